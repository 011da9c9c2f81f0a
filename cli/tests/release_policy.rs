//! The policies and the layer a cluster of GitHub releases runs
//! (`kyverno/release`, `k8s/overlays/release`, `gitops/application.yaml`)
//! against the workflow that makes those releases
//! (`.github/workflows/release.yml`).
//!
//! A keyless signature cannot be made offline, so no test here can sign an
//! image the way the release workflow does and show the policy admitting it.
//! What can drift is the text on both sides: the registry the workflow pushes
//! to, the identity and issuer it signs and verifies with, the builder and
//! workflow path its provenance names. Each is read from `release.yml` and
//! compared with the policy and the layer.

use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// What GitHub substitutes for `${{ github.server_url }}` on github.com.
const SERVER_URL: &str = "https://github.com";
const WORKFLOW: &str = ".github/workflows/release.yml";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn str_of<'a>(node: &'a Yaml, what: &str) -> &'a str {
    node.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {node:?}"))
}

/// `kubectl kustomize <dir>`, as Argo CD renders it.
fn render(dir: &str) -> Vec<Yaml> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(workspace().join(dir))
        .output()
        .expect("kubectl (scripts/programs.txt)");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    YamlLoader::load_from_str(&String::from_utf8_lossy(&out.stdout)).expect("rendered YAML")
}

/// A `variables` entry's CEL string literal (`"'text'"`).
fn variable(policy: &Yaml, name: &str) -> String {
    let entry = policy["spec"]["variables"]
        .as_vec()
        .expect("variables")
        .iter()
        .find(|v| v["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no variable {name}"));
    let expression = str_of(&entry["expression"], name);
    expression
        .strip_prefix('\'')
        .and_then(|e| e.strip_suffix('\''))
        .unwrap_or_else(|| panic!("{name} is not a string literal: {expression}"))
        .to_owned()
}

/// A Go regular expression matching exactly `text`.
fn quote_meta(text: &str) -> String {
    text.chars()
        .map(|c| {
            if r"\.+*?()|[]{}^$".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A GitHub Actions tag filter (`v*.*.*`) as a regular expression: `*` is
/// anything but `/`.
fn tag_filter_regex(filter: &str) -> String {
    filter
        .split('*')
        .map(quote_meta)
        .collect::<Vec<_>>()
        .join("[^/]*")
}

/// Every value given to `flag` in a shell script: a double-quoted string
/// (which may hold `${{ … }}` with spaces) or one word.
fn flag_values(script: &str, flag: &str) -> Vec<String> {
    script
        .match_indices(&format!("{flag} "))
        .map(|(at, _)| {
            let rest = script[at + flag.len()..].trim_start();
            match rest.strip_prefix('"') {
                Some(quoted) => quoted.split('"').next().unwrap_or_default().to_owned(),
                None => rest.split_whitespace().next().unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

/// What release.yml says about the releases it makes.
struct Workflow {
    registry_template: String,
    tag_filters: Vec<String>,
    identity_template: String,
    issuer: String,
    signer_workflow: String,
    runners: Vec<String>,
    uses_attest_build_provenance: bool,
}

fn workflow() -> Workflow {
    let docs = yaml(WORKFLOW);
    let doc = &docs[0];
    let jobs = doc["jobs"].as_hash().expect("jobs");
    let runs: Vec<String> = jobs
        .values()
        .flat_map(|job| job["steps"].as_vec().cloned().unwrap_or_default())
        .filter_map(|step| step["run"].as_str().map(str::to_owned))
        .collect();
    let identity_line = runs
        .iter()
        .flat_map(|run| run.lines())
        .find_map(|line| line.trim().strip_prefix("identity=\""))
        .expect("the verify step's identity=\"…\"");
    let signer = runs
        .iter()
        .flat_map(|run| flag_values(run, "--signer-workflow"))
        .next()
        .expect("gh attestation verify --signer-workflow");
    let issuers: Vec<String> = runs
        .iter()
        .flat_map(|run| flag_values(run, "--certificate-oidc-issuer"))
        .collect();
    assert!(!issuers.is_empty(), "no --certificate-oidc-issuer in {WORKFLOW}");
    assert!(
        issuers.iter().all(|i| i == &issuers[0]),
        "one issuer: {issuers:?}"
    );
    Workflow {
        registry_template: str_of(&doc["jobs"]["build"]["env"]["REGISTRY"], "REGISTRY").to_owned(),
        tag_filters: doc["on"]["push"]["tags"]
            .as_vec()
            .expect("on.push.tags")
            .iter()
            .map(|t| str_of(t, "tag filter").to_owned())
            .collect(),
        identity_template: identity_line.trim_end_matches('"').to_owned(),
        issuer: issuers[0].clone(),
        signer_workflow: signer,
        runners: jobs
            .values()
            .map(|job| str_of(&job["runs-on"], "runs-on").to_owned())
            .collect(),
        uses_attest_build_provenance: jobs.values().any(|job| {
            job["steps"].as_vec().is_some_and(|steps| {
                steps.iter().any(|s| {
                    s["uses"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("actions/attest-build-provenance@"))
                })
            })
        }),
    }
}

/// `owner/name` of CloudShop's repository, from the local release policy
/// (the repository its provenance must name).
fn repository() -> String {
    let docs = yaml("kyverno/policies/verify-cloudshop-images.yaml");
    let url = variable(&docs[0], "repository");
    url.strip_prefix(&format!("{SERVER_URL}/"))
        .unwrap_or_else(|| panic!("{url} is not on {SERVER_URL}"))
        .to_owned()
}

fn release_policy() -> Yaml {
    yaml("kyverno/release/verify-cloudshop-release-images.yaml").remove(0)
}

/// `ghcr.io/<owner>`, the registry release.yml pushes `cloudshop/<service>` to.
fn release_registry(workflow: &Workflow, repository: &str) -> String {
    let owner = repository.split('/').next().expect("owner");
    workflow
        .registry_template
        .replace("${{ github.repository_owner }}", owner)
}

#[test]
fn the_keyless_identity_is_the_release_workflow_at_a_release_tag() {
    let workflow = workflow();
    let repository = repository();
    assert!(
        workspace().join(WORKFLOW).is_file(),
        "the identity names {WORKFLOW}"
    );
    // What the workflow verifies its own signatures against, for a tag.
    let identity = workflow
        .identity_template
        .replace("${{ github.server_url }}", SERVER_URL)
        .replace("${{ github.repository }}", &repository);
    let (workflow_url, reference) = identity.split_once('@').expect("identity = <workflow>@<ref>");
    assert_eq!(reference, "${{ github.ref }}", "{identity}");
    assert_eq!(workflow_url, format!("{SERVER_URL}/{repository}/{WORKFLOW}"));
    assert_eq!(
        workflow
            .signer_workflow
            .replace("${{ github.repository }}", &repository),
        format!("{repository}/{WORKFLOW}"),
        "gh attestation verify's --signer-workflow"
    );

    let policy = release_policy();
    let attestors = policy["spec"]["attestors"].as_vec().expect("attestors");
    assert_eq!(attestors.len(), 1, "one attestor: the release workflow");
    let cosign = &attestors[0]["cosign"];
    assert!(cosign["key"].is_badvalue(), "no key attestor for releases");
    let identities = cosign["keyless"]["identities"]
        .as_vec()
        .expect("keyless identities");
    assert_eq!(identities.len(), 1);
    assert_eq!(str_of(&identities[0]["issuer"], "issuer"), workflow.issuer);
    assert_eq!(workflow.issuer, "https://token.actions.githubusercontent.com");
    // Exactly the workflow's URL, then one of the tags that trigger it.
    assert_eq!(workflow.tag_filters.len(), 1, "{:?}", workflow.tag_filters);
    let expected = format!(
        "^{}@refs/tags/{}$",
        quote_meta(workflow_url),
        tag_filter_regex(&workflow.tag_filters[0])
    );
    assert_eq!(str_of(&identities[0]["subjectRegExp"], "subjectRegExp"), expected);
}

#[test]
fn the_release_policy_matches_the_registry_and_provenance_the_workflow_makes() {
    let workflow = workflow();
    let repository = repository();
    let registry = release_registry(&workflow, &repository);
    assert!(
        !registry.contains("${{"),
        "release.yml's REGISTRY has more than the owner to fill in: {}",
        workflow.registry_template
    );
    let prefix = format!("{registry}/cloudshop/");

    let policy = release_policy();
    let globs: Vec<&str> = policy["spec"]["matchImageReferences"]
        .as_vec()
        .expect("matchImageReferences")
        .iter()
        .map(|m| str_of(&m["glob"], "glob"))
        .collect();
    assert_eq!(globs, [format!("{prefix}*")]);
    let images = str_of(
        &policy["spec"]["variables"]
            .as_vec()
            .expect("variables")
            .iter()
            .find(|v| v["name"].as_str() == Some("images"))
            .expect("images")["expression"],
        "images",
    );
    assert!(images.contains(&format!("startsWith('{prefix}')")), "{images}");

    // actions/attest-build-provenance on GitHub-hosted runners writes this
    // builder, and the workflow's repository and path.
    assert!(workflow.uses_attest_build_provenance);
    assert!(
        workflow.runners.iter().all(|r| r.starts_with("ubuntu-")),
        "GitHub-hosted runners only: {:?}",
        workflow.runners
    );
    assert_eq!(
        variable(&policy, "githubBuilder"),
        "https://github.com/actions/runner/github-hosted"
    );
    assert_eq!(
        variable(&policy, "repository"),
        format!("{SERVER_URL}/{repository}")
    );
    assert_eq!(variable(&policy, "releaseWorkflow"), WORKFLOW);
}

#[test]
fn argo_cd_syncs_the_release_policies_and_the_release_registry_images() {
    let workflow = workflow();
    let repository = repository();
    let prefix = format!("{}/cloudshop/", release_registry(&workflow, &repository));

    let application = yaml("gitops/application.yaml").remove(0);
    let sources: Vec<(&str, &str)> = application["spec"]["sources"]
        .as_vec()
        .expect("sources")
        .iter()
        .map(|s| (str_of(&s["repoURL"], "repoURL"), str_of(&s["path"], "path")))
        .collect();
    let paths: Vec<&str> = sources.iter().map(|(_, path)| *path).collect();
    assert!(paths.contains(&"kyverno/release"), "{paths:?}");
    assert!(paths.contains(&"k8s/overlays/release"), "{paths:?}");
    assert!(!paths.contains(&"kyverno/policies"), "{paths:?}");
    for (url, _) in &sources {
        assert_eq!(*url, format!("{SERVER_URL}/{repository}.git"));
    }

    // The policy set: every policy of kyverno/policies but the key-based
    // image check, plus the keyless one; nothing names the local registry.
    let local: Vec<String> = render("kyverno/policies")
        .iter()
        .map(|p| str_of(&p["metadata"]["name"], "name").to_owned())
        .collect();
    let released = render("kyverno/release");
    let mut names: Vec<String> = released
        .iter()
        .map(|p| str_of(&p["metadata"]["name"], "name").to_owned())
        .collect();
    let mut expected: Vec<String> = local
        .into_iter()
        .filter(|n| n != "verify-cloudshop-images")
        .chain(["verify-cloudshop-release-images".to_owned()])
        .collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
    let mut text = String::new();
    yaml_rust2::YamlEmitter::new(&mut text)
        .dump(&Yaml::Array(released.clone()))
        .expect("emit");
    assert!(
        !text.contains("kind-registry"),
        "the local registry in kyverno/release"
    );
    assert!(!text.contains("COSIGN_PUBLIC_KEY_PLACEHOLDER"));
    let registries = released
        .iter()
        .find(|p| p["metadata"]["name"].as_str() == Some("restrict-image-registries"))
        .expect("restrict-image-registries");
    let bad = registries["spec"]["variables"]
        .as_vec()
        .expect("variables")
        .iter()
        .find(|v| v["name"].as_str() == Some("bad"))
        .expect("bad");
    assert!(
        str_of(&bad["expression"], "bad").contains(&format!("startsWith('{prefix}')")),
        "{bad:?}"
    );

    // The layer: each service from the release registry, by digest.
    let layer = render("k8s/overlays/release");
    let mut images = Vec::new();
    collect_images(&Yaml::Array(layer), &mut images);
    assert!(!images.is_empty());
    for image in &images {
        let (name, digest) = image
            .split_once("@sha256:")
            .unwrap_or_else(|| panic!("{image} by digest"));
        assert!(
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "{image}"
        );
        assert!(
            name.starts_with(&prefix) || name == "docker.io/library/postgres",
            "{image} is neither a release image nor PostgreSQL"
        );
    }
    for service in cloudshop_topology::NAMES {
        let name = format!("{prefix}{service}@");
        assert!(
            images.iter().any(|i| i.starts_with(&name)),
            "{service} is not deployed from {prefix}"
        );
    }
}

fn collect_images(node: &Yaml, out: &mut Vec<String>) {
    match node {
        Yaml::Hash(map) => {
            for (key, value) in map {
                if key.as_str() == Some("image")
                    && let Some(image) = value.as_str()
                {
                    out.push(image.to_owned());
                }
                collect_images(value, out);
            }
        }
        Yaml::Array(items) => items.iter().for_each(|i| collect_images(i, out)),
        _ => {}
    }
}
