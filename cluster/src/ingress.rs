//! The shop's front door on the real node: Traefik as the Ingress
//! controller, serving the Ingress objects of `k8s/base/services/ingress.yaml`
//! (`shop.local` → storefront, `api.local` → gateway over HTTPS).
//!
//! Traefik is built here (`tools/traefik`), put in a `FROM scratch` image and
//! pushed to the cluster's registry; it runs as a Deployment in the namespace
//! `ingress` (Pod Security restricted: non-root, read-only root, no
//! capabilities) and reads Ingresses in `cloudshop-prod` only. The Kyverno
//! policies exempt that namespace, as they exempt every add-on that ships its
//! own image (see `kyverno/README.md`). Its Service is a NodePort, which
//! kube-proxy serves on the node's address only: the shop's addresses are
//! `http://shop.local:30080` and `http://api.local:30080` with both names
//! resolving to [`crate::node::ADDRESS`].

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use cloudshop_host::readiness::{self, Probe};

use crate::node::{ADDRESS, Node};

/// The namespace the controller runs in (the NetworkPolicies name it).
pub const NAMESPACE: &str = "ingress";
/// The NodePort every host is served on.
pub const PORT: u16 = 30080;
/// The hosts of the shop's Ingress objects.
pub const SHOP_HOST: &str = "shop.local";
pub const API_HOST: &str = "api.local";

/// `http://HOST:PORT` for one of the shop's hosts.
pub fn address(host: &str) -> String {
    format!("http://{host}:{PORT}")
}

impl Node<'_> {
    /// Builds Traefik's image from the installed binary and pushes it;
    /// returns the reference pods use, pinned by digest.
    pub fn traefik_image(&self) -> anyhow::Result<String> {
        let pin = cloudshop_topology::versions::TRAEFIK;
        self.addon_image(NAMESPACE, "traefik", &self.tools.traefik, pin, 65532)
    }

    /// Traefik in the namespace `ingress`, ready when it routes `shop.local`
    /// to the storefront (the Ingress objects come with the shop).
    pub async fn ingress(&self, image: &str, ca: &Path) -> anyhow::Result<()> {
        let ca = std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?;
        let kubectl = self.plane.kubectl();
        kubectl
            .apply(&manifest(image, &ca)?)
            .context("applying Traefik")?;
        kubectl
            .run(&[
                "-n",
                NAMESPACE,
                "rollout",
                "status",
                "deployment/traefik",
                "--timeout=120s",
            ])
            .context("Traefik did not become ready")?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .resolve(SHOP_HOST, (ADDRESS.parse::<std::net::IpAddr>()?, PORT).into())
            .build()?;
        let url = address(SHOP_HOST);
        readiness::poll(
            Duration::from_secs(60),
            Duration::from_millis(200),
            async || {
                Ok(match client.get(&url).send().await {
                    Ok(response) if response.status().is_success() => Probe::Ready,
                    Ok(response) => Probe::NotYet(Some(anyhow::anyhow!("{url}: {}", response.status()))),
                    Err(error) => Probe::NotYet(Some(anyhow::Error::new(error))),
                })
            },
            |error| {
                let error = error.map(|error| format!("{error:#}")).unwrap_or_default();
                anyhow::anyhow!(
                    "Traefik does not serve {SHOP_HOST} after 60 s ({error}); its log: \
                     kubectl -n {NAMESPACE} logs deployment/traefik"
                )
            },
        )
        .await
    }
}

/// Traefik's objects. Its rights, all read-only: IngressClasses and Nodes
/// cluster-wide (its provider watches both whatever it is configured to
/// do); Services, EndpointSlices, Ingresses and Secrets in `cloudshop-prod`
/// only, where it watches. The Secrets are the one right it is given
/// without using it (the shop's Ingresses have no `tls:`): Traefik v3's
/// Ingress provider always starts a Secret watch and does not sync without
/// it. That puts the shop's Secrets in the memory of its internet-facing
/// proxy, as with any Ingress controller watching the namespace; a
/// controller configured from files instead would need no rights at all. The CA of the shop's
/// certificates (public part) lets it verify the gateway's.
fn manifest(image: &str, ca: &str) -> anyhow::Result<String> {
    let shop = crate::deploy::NAMESPACE;
    let dynamic = format!(
        "http:
  serversTransports:
    api-gateway:
      serverName: api-gateway.{shop}.svc.cluster.local
      rootCAs: [/etc/traefik/ca/ca.crt]
"
    );
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "traefik", "namespace": NAMESPACE},
        "data": {"dynamic.yaml": dynamic, "ca.crt": ca},
    });
    Ok(format!(
        r#"{namespace}---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "cloudshop:traefik"}}
rules:
- apiGroups: [networking.k8s.io]
  resources: [ingressclasses]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "cloudshop:traefik"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "cloudshop:traefik"}}
subjects:
- {{kind: ServiceAccount, name: traefik, namespace: {NAMESPACE}}}
---
{rights}---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {{name: traefik}}
spec: {{controller: traefik.io/ingress-controller}}
---
{config}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: traefik, namespace: {NAMESPACE}, labels: {{app.kubernetes.io/name: traefik}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app.kubernetes.io/name: traefik}}}}
  template:
    metadata: {{labels: {{app.kubernetes.io/name: traefik}}}}
    spec:
      serviceAccountName: traefik
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: {{type: RuntimeDefault}}
      containers:
      - name: traefik
        image: {image}
        args:
        - --global.checkNewVersion=false
        - --global.sendAnonymousUsage=false
        - --entryPoints.web.address=:8000
        - --entryPoints.traefik.address=:8080
        - --ping=true
        - --providers.kubernetesIngress=true
        - --providers.kubernetesIngress.namespaces={shop}
        - --providers.kubernetesIngress.ingressClass=traefik
        # Written into each Ingress' status (kubectl's ADDRESS; Argo CD counts
        # an Ingress without it as still progressing).
        - --providers.kubernetesIngress.ingressEndpoint.ip={ADDRESS}
        - --providers.file.filename=/etc/traefik/dynamic.yaml
        - --log.level=INFO
        - --log.noColor=true
        - --accessLog=false
        ports:
        - {{name: web, containerPort: 8000}}
        - {{name: ping, containerPort: 8080}}
{restricted}        resources:
          requests: {{cpu: 50m, memory: 64Mi}}
          limits: {{cpu: "1", memory: 192Mi}}
        readinessProbe:
          httpGet: {{path: /ping, port: 8080}}
          periodSeconds: 2
        livenessProbe:
          httpGet: {{path: /ping, port: 8080}}
        volumeMounts:
        - {{name: config, mountPath: /etc/traefik/dynamic.yaml, subPath: dynamic.yaml, readOnly: true}}
        - {{name: config, mountPath: /etc/traefik/ca/ca.crt, subPath: ca.crt, readOnly: true}}
      volumes:
      - name: config
        configMap: {{name: traefik}}
---
apiVersion: v1
kind: Service
metadata: {{name: traefik, namespace: {NAMESPACE}}}
spec:
  type: NodePort
  selector: {{app.kubernetes.io/name: traefik}}
  ports:
  - {{name: web, port: 80, targetPort: web, nodePort: {PORT}}}
"#,
        config = serde_json::to_string(&config)?,
        namespace = crate::kubectl::restricted_namespace(NAMESPACE, &["traefik"]),
        restricted = crate::kubectl::RESTRICTED_CONTAINER,
        rights = crate::kubectl::role_for_account(
            "traefik",
            shop,
            NAMESPACE,
            r#"- apiGroups: [""]
  resources: [services, secrets]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses/status]
  verbs: [update]
"#
        ),
    ))
}

/// The machine's `/etc/hosts` is not touched: clients resolve the shop's
/// hosts to the node's address themselves (`curl --resolve`, a browser's
/// host rules), as `cluster up` prints.
pub fn curl_hint() -> String {
    format!(
        "curl --resolve {SHOP_HOST}:{PORT}:{ADDRESS} {}",
        address(SHOP_HOST)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_pins_the_image_and_names_the_hosts_port() {
        let text = manifest("127.0.0.1:5000/ingress/traefik@sha256:00", "CA").expect("manifest");
        assert!(text.contains("image: 127.0.0.1:5000/ingress/traefik@sha256:00"));
        assert!(text.contains("nodePort: 30080"));
        assert!(text.contains("--providers.kubernetesIngress.namespaces=cloudshop-prod"));
        assert!(text.contains(r#""ca.crt":"CA""#));
    }
}
