//! The OpenAPI 3.1 document of the public API, generated: every schema from
//! the types of this crate (`ToSchema`, `IntoParams`), every path from
//! [`crate::paths`], and each operation's replies from [`operations`]. The
//! gateway serves it at `/api/openapi.json`; no document is written by hand.

use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    PathsBuilder, Ref, RefOr, Required, ResponseBuilder, Schema, ServerBuilder, Type,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::Health;
use crate::auth::{AccessToken, Account, Credentials, Jwks, Registration};
use crate::error::ErrorEnvelope;
use crate::orders::{Order, OrderPage, OrderQuery, OrderRequest, Rejection};
use crate::paths;
use crate::products::{Category, Product, ProductInput, ProductPage, ProductPatch, ProductQuery};

const JSON: &str = "application/json";
const BEARER: &str = "bearer";

/// Who may call an operation, as the gateway checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Bearer,
}

/// What a reply carries.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// JSON of the named component schema.
    Schema(&'static str),
    /// Any JSON object (this document itself).
    Object,
    /// Bytes of a media type (pictures).
    Media(&'static str),
    None,
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub method: HttpMethod,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub access: Access,
    summary: &'static str,
    parameters: Vec<Parameter>,
    request: Option<&'static str>,
    success: (u16, &'static str, Body),
    /// Statuses answered with the error envelope.
    errors: &'static [u16],
    /// A reply with a body of its own (the order rejection).
    other: Option<(u16, &'static str, &'static str)>,
    /// Answers carry an `ETag`; `If-None-Match` naming it gives a 304.
    revalidated: bool,
}

// The errors each kind of operation can meet, besides its own: the edge's
// rate limit (429), a backend down (503) or slow (504).
const EDGE: &[u16] = &[429, 503, 504];
const READ: &[u16] = &[400, 429, 503, 504];
const ONE: &[u16] = &[404, 429, 503, 504];
const WRITE: &[u16] = &[400, 401, 403, 409, 413, 415, 422, 429, 503, 504];
const ITEM_WRITE: &[u16] = &[400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 504];

fn path_id(uuid: bool) -> Parameter {
    let schema = if uuid {
        ObjectBuilder::new().schema_type(Type::String).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid),
        ))
    } else {
        ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1))
    };
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(schema))
        .build()
}

fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some("Retries with the same key and body return the same order"))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]{1,255}$")),
        ))
        .build()
}

fn endpoint(
    method: HttpMethod,
    path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
) -> Endpoint {
    Endpoint {
        method,
        path,
        operation_id,
        access: Access::Public,
        summary,
        parameters: Vec::new(),
        request: None,
        success: (200, "OK", Body::None),
        errors: EDGE,
        other: None,
        revalidated: false,
    }
}

fn if_none_match() -> Parameter {
    ParameterBuilder::new()
        .name("If-None-Match")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The ETag of a body this caller keeps: a 304 without a body when it is still the answer",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

impl Endpoint {
    fn bearer(mut self) -> Self {
        self.access = Access::Bearer;
        self
    }
    fn params(mut self, parameters: Vec<Parameter>) -> Self {
        self.parameters = parameters;
        self
    }
    fn request(mut self, schema: &'static str) -> Self {
        self.request = Some(schema);
        self
    }
    fn replies(mut self, status: u16, description: &'static str, schema: &'static str) -> Self {
        self.success = (status, description, Body::Schema(schema));
        self
    }
    fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
    /// A catalogue read: `ETag` on its answers, 304 on a matching
    /// `If-None-Match`.
    fn revalidated(mut self) -> Self {
        self.revalidated = true;
        self.parameters.push(if_none_match());
        self
    }
}

/// Every operation of the public API, in the order of the document.
pub fn operations() -> Vec<Endpoint> {
    use HttpMethod::{Delete, Get, Patch, Post, Put};
    let product = || vec![path_id(false)];
    let order = || vec![path_id(true)];
    vec![
        endpoint(Get, paths::HEALTH, "health", "The gateway is up")
            .replies(200, "Up", "Status")
            .errors(&[]),
        Endpoint {
            success: (200, "This document", Body::Object),
            ..endpoint(Get, paths::OPENAPI, "openapi", "This document").errors(&[429])
        },
        endpoint(Post, paths::REGISTER, "register", "Create a customer account")
            .request("Registration")
            .replies(201, "Created", "Account")
            .errors(&[400, 409, 413, 415, 422, 429, 503, 504]),
        endpoint(Post, paths::LOGIN, "login", "Log in: a short-lived access token")
            .request("Credentials")
            .replies(200, "Logged in", "AccessToken")
            .errors(&[400, 401, 413, 415, 422, 429, 503, 504]),
        endpoint(Get, paths::ME, "me", "The caller's account")
            .bearer()
            .replies(200, "The account", "Account")
            .errors(&[401, 429, 503, 504]),
        endpoint(
            Get,
            paths::JWKS,
            "jwks",
            "The public keys that verify access tokens",
        )
        .replies(200, "The key set", "Jwks"),
        endpoint(Get, paths::PRODUCTS, "listProducts", "A page of the catalogue")
            .params(ProductQuery::into_params(|| None))
            .replies(200, "A page of products", "ProductPage")
            .revalidated()
            .errors(READ),
        endpoint(Post, paths::PRODUCTS, "createProduct", "Create a product (admin)")
            .bearer()
            .request("ProductInput")
            .replies(201, "Created", "Product")
            .errors(WRITE),
        endpoint(Get, paths::PRODUCT, "getProduct", "One product")
            .params(product())
            .replies(200, "The product", "Product")
            .revalidated()
            .errors(ONE),
        endpoint(Put, paths::PRODUCT, "replaceProduct", "Replace a product (admin)")
            .bearer()
            .params(product())
            .request("ProductInput")
            .replies(200, "Replaced", "Product")
            .errors(ITEM_WRITE),
        endpoint(
            Patch,
            paths::PRODUCT,
            "patchProduct",
            "Change some fields, e.g. stock (admin)",
        )
        .bearer()
        .params(product())
        .request("ProductPatch")
        .replies(200, "Changed", "Product")
        .errors(ITEM_WRITE),
        Endpoint {
            success: (204, "Deleted", Body::None),
            ..endpoint(
                Delete,
                paths::PRODUCT,
                "deleteProduct",
                "Delete a product (admin)",
            )
            .bearer()
            .params(product())
            .errors(&[401, 403, 404, 409, 429, 503, 504])
        },
        Endpoint {
            success: (200, "SVG picture", Body::Media("image/svg+xml")),
            ..endpoint(Get, paths::PRODUCT_IMAGE, "productImage", "The product's picture")
                .params(product())
                .errors(ONE)
        },
        endpoint(Get, paths::CATEGORIES, "listCategories", "Every category")
            .replies(200, "The categories", "Categories")
            .revalidated(),
        endpoint(
            Get,
            paths::ORDERS,
            "listOrders",
            "The caller's orders, newest first; all orders with all=true (admin)",
        )
        .bearer()
        .params(OrderQuery::into_params(|| None))
        .replies(200, "A page of orders", "OrderPage")
        .errors(&[400, 401, 403, 429, 503, 504]),
        Endpoint {
            other: Some((
                409,
                "Rejected: out of stock or unknown product; the order is recorded REJECTED",
                "Rejection",
            )),
            ..endpoint(Post, paths::ORDERS, "createOrder", "Place an order")
                .bearer()
                .params(vec![idempotency_key()])
                .request("OrderRequest")
                .replies(201, "The order (also on a replay)", "Order")
                .errors(&[400, 401, 413, 415, 422, 429, 503, 504])
        },
        endpoint(
            Get,
            paths::ORDER,
            "getOrder",
            "One of the caller's orders (any, for an admin)",
        )
        .bearer()
        .params(order())
        .replies(200, "The order", "Order")
        .errors(&[401, 404, 429, 503, 504]),
        endpoint(
            Post,
            paths::ORDER_CANCEL,
            "cancelOrder",
            "Cancel an order that is not shipped",
        )
        .bearer()
        .params(order())
        .replies(200, "Cancelled; its stock is returned", "Order")
        .errors(&[401, 404, 409, 429, 503, 504]),
        endpoint(
            Post,
            paths::ORDER_SHIP,
            "shipOrder",
            "Mark a confirmed order shipped (admin)",
        )
        .bearer()
        .params(order())
        .replies(200, "Shipped", "Order")
        .errors(&[401, 403, 404, 409, 429, 503, 504]),
    ]
}

fn schema_ref(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

fn json_content(name: &str) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema_ref(name))).build()
}

impl Endpoint {
    fn operation(&self) -> Operation {
        let mut operation = OperationBuilder::new()
            .operation_id(Some(self.operation_id))
            .summary(Some(self.summary))
            .parameters(Some(self.parameters.clone()));
        if self.access == Access::Public {
            operation = operation.securities(Some(Vec::<SecurityRequirement>::new()));
        }
        if let Some(request) = self.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(JSON, json_content(request))
                    .build(),
            ));
        }
        let (status, description, body) = self.success;
        let success = ResponseBuilder::new().description(description);
        let success = match body {
            Body::Schema(name) => success.content(JSON, json_content(name)),
            Body::Object => success.content(
                JSON,
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                    .build(),
            ),
            Body::Media(media) => success.content(
                media,
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            ),
            Body::None => success,
        };
        operation = operation.response(status.to_string(), success.build());
        if self.revalidated {
            operation = operation.response(
                "304",
                ResponseBuilder::new()
                    .description("Not modified: If-None-Match names the current body's ETag")
                    .build(),
            );
        }
        if let Some((status, description, name)) = self.other {
            operation = operation.response(
                status.to_string(),
                ResponseBuilder::new()
                    .description(description)
                    .content(JSON, json_content(name))
                    .build(),
            );
        }
        for status in self.errors {
            operation = operation.response(status.to_string(), Ref::from_response_name("Error"));
        }
        operation.build()
    }
}

/// The component schemas: each type with the types it refers to.
fn schemas() -> Vec<(String, RefOr<Schema>)> {
    fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
    let mut schemas = Vec::new();
    add::<ErrorEnvelope>(&mut schemas);
    add::<Health>(&mut schemas);
    add::<Registration>(&mut schemas);
    add::<Credentials>(&mut schemas);
    add::<Account>(&mut schemas);
    add::<AccessToken>(&mut schemas);
    add::<Jwks>(&mut schemas);
    add::<Product>(&mut schemas);
    add::<ProductInput>(&mut schemas);
    add::<ProductPatch>(&mut schemas);
    add::<Category>(&mut schemas);
    add::<OrderRequest>(&mut schemas);
    add::<Order>(&mut schemas);
    add::<Rejection>(&mut schemas);
    // Named pages and lists: the generic types under the names clients know.
    schemas.push(("ProductPage".into(), ProductPage::schema()));
    schemas.push(("OrderPage".into(), OrderPage::schema()));
    schemas.push(("Categories".into(), Vec::<Category>::schema()));
    schemas
}

/// The document, generated.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new().build();
    for endpoint in operations() {
        paths.add_path_operation(endpoint.path, vec![endpoint.method.clone()], endpoint.operation());
    }
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        .response(
            "Error",
            ResponseBuilder::new()
                .description("An error, in the envelope every error uses")
                .content(JSON, json_content("Error"))
                .build(),
        );
    for (name, schema) in schemas() {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("CloudShop API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The public JSON API of CloudShop, served by the API gateway. \
                     Errors always use the `Error` envelope; unknown query parameters \
                     and body fields are refused with a 400 or 422.",
                ))
                .license(Some(
                    LicenseBuilder::new()
                        .name("Apache-2.0")
                        .identifier(Some("Apache-2.0"))
                        .build(),
                )),
        )
        .servers(Some(vec![
            ServerBuilder::new().url("https://127.0.0.1:8080").build(),
        ]))
        .security(Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]))
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

/// The document as the gateway serves it.
pub fn document_json() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_else(|err| {
        // Only a bug of ours can get here: the document is plain data.
        format!(r#"{{"error":{{"code":"internal","message":"the document could not be written: {err}"}}}}"#)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => found.push(target.clone()),
                        _ => refs(value, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_reference_resolves() {
        let doc: Value = serde_json::from_str(&document_json()).expect("json");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50, "{found:?}");
        for target in found {
            let pointer = target.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
    }

    #[test]
    fn every_operation_is_documented_once_with_its_error_envelope() {
        let doc: Value = serde_json::to_value(document()).expect("json");
        let mut ids = Vec::new();
        for endpoint in operations() {
            let method = format!("{:?}", endpoint.method).to_lowercase();
            let operation = &doc["paths"][endpoint.path][&method];
            assert_eq!(operation["operationId"], endpoint.operation_id);
            ids.push(endpoint.operation_id);
            if endpoint.access == Access::Public {
                assert_eq!(
                    operation["security"],
                    serde_json::json!([]),
                    "{}",
                    endpoint.operation_id
                );
            }
        }
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids are unique");
        let listed = &doc["paths"]["/api/products"]["get"]["parameters"];
        let names: Vec<&str> = listed
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(names, ["q", "category", "page", "per_page", "If-None-Match"]);
        // Catalogue reads revalidate; nothing else claims to.
        for (path, method) in [
            ("/api/products", "get"),
            ("/api/products/{id}", "get"),
            ("/api/categories", "get"),
        ] {
            let replies = &doc["paths"][path][method]["responses"];
            assert!(replies.get("304").is_some(), "{path}: {replies}");
        }
        let revalidated = operations().iter().filter(|e| e.revalidated).count();
        assert_eq!(revalidated, 3);
        let status = &doc["components"]["schemas"]["OrderStatus"]["enum"];
        assert!(status.to_string().contains("CONFIRMED"), "{status}");
        // The document describes itself as the JSON object it is.
        let itself =
            &doc["paths"]["/api/openapi.json"]["get"]["responses"]["200"]["content"]["application/json"];
        assert_eq!(itself["schema"]["type"], "object", "{itself}");
        let code = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        assert!(
            code.as_array()
                .expect("codes")
                .contains(&Value::from("out_of_stock")),
            "{code}"
        );
    }
}
