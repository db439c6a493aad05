//! Finance routes for Books (`/books/v3`), Invoice (`/invoice/v3`) and
//! Billing (`/billing/v1`), generated from [`super::spec`].

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::ops::{self, Ctx, Route};
use super::spec::{self, Action, Kind};
use crate::app::{App, AppRef, reply};
use crate::error::{ApiError, Product};

type Q = Query<HashMap<String, String>>;
type Fut = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// Run a route for a request whose organisation is already selected.
#[allow(clippy::too_many_arguments)]
pub fn run(
    app: &App,
    product: Product,
    org: &str,
    route: Route,
    params: &[String],
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(u16, Value), ApiError> {
    let now = app.now();
    let org = app
        .read(|st| st.finance.org(product, org).cloned())
        .ok_or_else(|| {
            ApiError::finance(
                400,
                6041,
                format!("This user is not associated with the CompanyID/CompanyName:{org}."),
            )
        })?;
    app.mutate(|st, events| {
        let mut cx = Ctx {
            product,
            org,
            now,
            events,
            trusted: false,
        };
        ops::execute(st, &mut cx, route, params, q, headers, body)
    })
}

async fn handle(
    app: AppRef,
    product: Product,
    route: Route,
    params: Vec<String>,
    q: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (permit, org) = match app.finance_guard(product, &headers, &q) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    match run(&app, product, &org, route, &params, &q, &headers, &body) {
        Ok((status, v)) => reply(status, v, &permit),
        Err(e) => e.into_response(),
    }
}

fn with_params(
    product: Product,
    route: Route,
) -> impl Fn(State<AppRef>, Path<Vec<String>>, Q, HeaderMap, Bytes) -> Fut + Clone + Send + Sync + 'static
{
    move |State(app), Path(p), Query(q), h, b| Box::pin(handle(app, product, route, p, q, h, b))
}

fn no_params(
    product: Product,
    route: Route,
) -> impl Fn(State<AppRef>, Q, HeaderMap, Bytes) -> Fut + Clone + Send + Sync + 'static {
    move |State(app), Query(q), h, b| Box::pin(handle(app, product, route, Vec::new(), q, h, b))
}

async fn organizations(app: AppRef, product: Product, headers: HeaderMap) -> Response {
    let now = app.now();
    if let Err(e) = app.auth.lock().unwrap().check(product, &headers, now) {
        return e.into_response();
    }
    let orgs: Vec<Value> = app.read(|st| {
        st.finance
            .orgs_of(product)
            .enumerate()
            .map(|(i, o)| {
                json!({
                    "organization_id": o.organization_id,
                    "name": o.name,
                    "contact_name": "Sandbox Admin",
                    "email": "admin@sandbox.invalid",
                    "is_default_org": i == 0,
                    "language_code": "en",
                    "fiscal_year_start_month": 0,
                    "account_created_date": "2024-01-01",
                    "time_zone": "GMT",
                    "is_org_active": true,
                    "currency_id": o.currency_id,
                    "currency_code": o.currency_code,
                    "currency_symbol": o.currency_symbol,
                    "currency_format": "###,##0.00",
                    "price_precision": 2,
                })
            })
            .collect()
    });
    ApiError::raw(
        200,
        json!({"code": 0, "message": "success", "organizations": orgs}),
    )
    .into_response()
}

/// Routes of all three finance products.
pub fn router() -> Router<AppRef> {
    let mut r = Router::new();
    for product in Product::FINANCE {
        r = r.merge(product_router(product));
    }
    r
}

fn product_router(product: Product) -> Router<AppRef> {
    let pre = product.prefix();
    let billing = product == Product::Billing;
    let wp = |route| with_params(product, route);
    let np = |route| no_params(product, route);
    let mut r: Router<AppRef> = Router::new().route(
        &format!("{pre}/organizations"),
        get(move |State(app): State<AppRef>, h: HeaderMap| organizations(app, product, h)),
    );
    for kind in Kind::ALL {
        let s = spec::spec(product, kind);
        let base = format!("{pre}/{}", s.path);
        r = r.route(
            &base,
            get(np(Route::List(kind)))
                .post(np(Route::Create(kind)))
                .put(np(Route::UpdateByKey(kind))),
        );
        r = r.route(
            &format!("{base}/{{id}}"),
            get(wp(Route::Get(kind)))
                .put(wp(Route::Update(kind)))
                .delete(wp(Route::Delete(kind))),
        );
        for (suffix, action) in spec::actions(product, kind) {
            r = r.route(
                &format!("{base}/{{id}}/{suffix}"),
                post(wp(Route::Act(kind, action))),
            );
        }
    }
    let c = spec::spec(product, Kind::Contacts).path;
    if billing {
        r = r
            .route(
                &format!("{pre}/{c}/{{id}}/contactpersons"),
                get(wp(Route::CpList)).post(wp(Route::CpCreate)),
            )
            .route(
                &format!("{pre}/{c}/{{id}}/contactpersons/{{cp}}"),
                get(wp(Route::CpGet))
                    .put(wp(Route::CpUpdate))
                    .delete(wp(Route::CpDelete)),
            )
            .route(
                &format!("{pre}/{c}/reference/{{ref}}"),
                get(wp(Route::CustomerByReference)),
            );
    } else {
        r = r
            .route(
                &format!("{pre}/{c}/contactpersons"),
                post(np(Route::CpCreate)),
            )
            .route(
                &format!("{pre}/{c}/contactpersons/{{cp}}"),
                put(wp(Route::CpUpdate)).delete(wp(Route::CpDelete)),
            )
            .route(
                &format!("{pre}/{c}/contactpersons/{{cp}}/primary"),
                post(wp(Route::CpPrimary)),
            )
            .route(
                &format!("{pre}/{c}/{{id}}/contactpersons"),
                get(wp(Route::CpList)),
            )
            .route(
                &format!("{pre}/{c}/{{id}}/contactpersons/{{cp}}"),
                get(wp(Route::CpGet)),
            );
    }
    r = r
        .route(
            &format!("{pre}/invoices/{{id}}/payments"),
            get(wp(Route::InvoicePayments)),
        )
        .route(
            &format!("{pre}/invoices/{{id}}/credits"),
            post(wp(Route::InvoiceApplyCredits)),
        )
        .route(
            &format!("{pre}/creditnotes/{{id}}/invoices"),
            get(wp(Route::CreditNoteApplied)).post(wp(Route::CreditNoteApply)),
        );
    r
}

fn ui_target(product: &str, resource: &str) -> Result<(Product, spec::Spec), ApiError> {
    let product = Product::parse(product)
        .filter(|p| *p != Product::Crm)
        .ok_or_else(|| ApiError::raw(404, json!({"error": "unknown product"})))?;
    let spec = spec::by_name(product, resource)
        .ok_or_else(|| ApiError::raw(404, json!({"error": "unknown resource"})))?;
    Ok((product, spec))
}

/// `PUT /__sandbox/ui/{product}/{org}/{resource}/{id}`: edit a record as a
/// person in the web UI would (same validation, new modified time, webhooks).
pub async fn ui_update(
    State(app): State<AppRef>,
    Path((product, org, resource, id)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (product, spec) = ui_target(&product, &resource)?;
    let (status, v) = run(
        &app,
        product,
        &org,
        Route::Update(spec.kind),
        &[id],
        &HashMap::new(),
        &HeaderMap::new(),
        &body,
    )?;
    Ok(ApiError::raw(status, v).into_response())
}

/// `POST /__sandbox/ui/{product}/{org}/{resource}/{id}/{action}` with action
/// `sent`, `void`, `draft`, `open`, `email`, `accepted`, `declined`,
/// `active` or `inactive`.
pub async fn ui_action(
    State(app): State<AppRef>,
    Path((product, org, resource, id, action)): Path<(String, String, String, String, String)>,
) -> Result<Response, ApiError> {
    let product = Product::parse(&product)
        .ok_or_else(|| ApiError::raw(404, json!({"error": "unknown product"})))?;
    let v = app.ui_finance_act(product, &org, &resource, &id, &action)?;
    Ok(ApiError::raw(200, v).into_response())
}

/// Run a status action as a person in the web UI would.
pub fn ui_act(
    app: &App,
    product: Product,
    org: &str,
    resource: &str,
    id: &str,
    action: &str,
) -> Result<(u16, Value), ApiError> {
    let (product, spec) = ui_target(product.name(), resource)?;
    let action = match action {
        "sent" => Action::MarkSent,
        "void" => Action::MarkVoid,
        "draft" => Action::MarkDraft,
        "open" => Action::MarkOpen,
        "email" => Action::Email,
        "accepted" | "accept" => Action::Accept,
        "declined" | "decline" => Action::Decline,
        "active" => Action::MarkActive,
        "inactive" => Action::MarkInactive,
        _ => return Err(ApiError::raw(404, json!({"error": "unknown action"}))),
    };
    run(
        app,
        product,
        org,
        Route::Act(spec.kind, action),
        &[id.to_string()],
        &HashMap::new(),
        &HeaderMap::new(),
        &[],
    )
}
