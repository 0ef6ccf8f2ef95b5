//! A fake Kubernetes API server on 127.0.0.1 for the requests meshbench makes, with a
//! kubeconfig that points at it, so tests run the real kube-rs client: config loading, the
//! bearer token, HTTP and JSON decoding.
//!
//! It serves objects from fixture directories under `fixtures/kube/` (one JSON object per
//! file, shaped as the API server returns them; the README there says which real object
//! each follows) and answers as the API server does: `…List` objects with
//! `metadata.resourceVersion`, `kind: Status` bodies for 401, 403 and 404, a 404 for an API
//! group no fixture serves. Tests can forbid a verb on a resource (RBAC), slow a path down,
//! and read back every request it received.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::TempDir;

/// The bearer token the fake server accepts and its kubeconfig carries.
pub const TOKEN: &str = "meshbench-test-token";
/// The service account the fake server's RBAC messages name.
pub const USER: &str = "system:serviceaccount:meshbench:meshbench";

/// Resources served with or without fixtures: (group, version, plural, kind).
const BUILT_IN: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "namespaces", "Namespace"),
    ("", "v1", "pods", "Pod"),
    ("", "v1", "services", "Service"),
    ("", "v1", "configmaps", "ConfigMap"),
    ("", "v1", "nodes", "Node"),
    ("", "v1", "serviceaccounts", "ServiceAccount"),
    ("apps", "v1", "deployments", "Deployment"),
    ("apps", "v1", "daemonsets", "DaemonSet"),
    ("apps", "v1", "replicasets", "ReplicaSet"),
    ("batch", "v1", "jobs", "Job"),
];

/// Where the fixture clusters live.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("kube")
}

/// Loads every object of the fixture clusters `names` (directories under
/// [`fixtures_dir`]); a later cluster's object replaces an earlier one of the same kind,
/// namespace and name, so clusters can be layered.
pub fn load_fixtures(names: &[&str]) -> Vec<Value> {
    let mut objects: Vec<Value> = Vec::new();
    for name in names {
        let dir = fixtures_dir().join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read fixture cluster {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            let object: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
            let key = identity(&object);
            objects.retain(|o| identity(o) != key);
            objects.push(object);
        }
    }
    objects
}

fn identity(o: &Value) -> (String, String, String, String) {
    let s = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (
        s("/apiVersion"),
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name"),
    )
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

/// The resource name (plural) of a kind, as the API server's discovery names it.
fn plural(group: &str, kind: &str) -> String {
    match (group, kind) {
        ("metrics.k8s.io", "PodMetrics") => "pods".to_string(),
        ("metrics.k8s.io", "NodeMetrics") => "nodes".to_string(),
        (_, "Endpoints") => "endpoints".to_string(),
        _ => format!("{}s", kind.to_ascii_lowercase()),
    }
}

/// One request the fake server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body, when it was JSON.
    pub body: Option<Value>,
}

impl Recorded {
    /// A query parameter's value.
    pub fn param(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// RBAC rules and faults a test sets on the fake server.
#[derive(Debug, Default)]
struct Faults {
    /// (verb, plural, namespace or None for every scope) refused with 403.
    forbidden: Vec<(String, String, Option<String>)>,
    /// (path substring, delay) before answering.
    slow: Vec<(String, Duration)>,
}

#[derive(Debug)]
struct World {
    objects: Vec<Value>,
    served: BTreeSet<(String, String, String)>,
    kinds: Vec<(String, String, String)>,
    faults: Faults,
    requests: Vec<Recorded>,
    resource_version: u64,
    /// Pod logs by (namespace, pod).
    logs: std::collections::HashMap<(String, String), String>,
}

impl World {
    fn kind_of(&self, group: &str, plural: &str) -> String {
        self.kinds
            .iter()
            .find(|(g, p, _)| g == group && p == plural)
            .map(|(_, _, k)| k.clone())
            .unwrap_or_else(|| "Object".to_string())
    }
}

type Shared = Arc<Mutex<World>>;

/// A fake API server and the kubeconfig that reaches it. Stops when dropped.
pub struct FakeKube {
    addr: SocketAddr,
    world: Shared,
    dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeKube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKube")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeKube {
    /// A fake server holding the fixture clusters `names`, layered (see [`load_fixtures`]).
    pub fn start(names: &[&str]) -> FakeKube {
        FakeKube::with_objects(load_fixtures(names))
    }

    /// A fake server holding `objects`.
    pub fn with_objects(objects: Vec<Value>) -> FakeKube {
        let mut served: BTreeSet<(String, String, String)> = BUILT_IN
            .iter()
            .map(|(g, v, p, _)| (g.to_string(), v.to_string(), p.to_string()))
            .collect();
        let mut kinds: Vec<(String, String, String)> = BUILT_IN
            .iter()
            .map(|(g, _, p, k)| (g.to_string(), p.to_string(), k.to_string()))
            .collect();
        for o in &objects {
            let (group, version) = split_api_version(o["apiVersion"].as_str().unwrap_or_default());
            let kind = o["kind"].as_str().unwrap_or_default().to_string();
            let plural = plural(&group, &kind);
            if !kinds.iter().any(|(g, p, _)| *g == group && *p == plural) {
                kinds.push((group.clone(), plural.clone(), kind));
            }
            served.insert((group, version, plural));
        }
        let world = Arc::new(Mutex::new(World {
            objects,
            served,
            kinds,
            faults: Faults::default(),
            requests: Vec::new(),
            resource_version: 48_213,
            logs: Default::default(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind the fake API server: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("cannot make the listener non-blocking: {e}"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(world.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot build a tokio runtime: {e}"));
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .unwrap_or_else(|e| panic!("cannot adopt the listener: {e}"));
                // Stopping drops the server and, with the runtime, every connection: a
                // slowed answer in progress must not hold up the test's end.
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        let dir = crate::temp_dir("fake-kube");
        let fake = FakeKube {
            addr,
            world,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        };
        fake.write_kubeconfig(&fake.kubeconfig(), TOKEN);
        fake
    }

    /// A client of this server through its kubeconfig, every call bounded by 5 s.
    pub async fn cluster(&self) -> meshbench_k8s::Cluster {
        let source = meshbench_k8s::Source::Kubeconfig(self.kubeconfig());
        meshbench_k8s::Cluster::connect(source, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("the fake server's kubeconfig does not load: {e}"))
    }

    /// The server's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (context `fake`, bearer [`TOKEN`]) pointing at this server.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Writes a kubeconfig for this server with `token` to `path`.
    pub fn write_kubeconfig(&self, path: &Path, token: &str) {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n\
             users:\n- name: meshbench\n  user:\n    token: {token}\ncontexts:\n- name: fake\n  \
             context:\n    cluster: fake\n    user: meshbench\n    namespace: default\n\
             current-context: fake\n",
            url = self.url()
        );
        std::fs::write(path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Refuses `verb` on `plural` (in `namespace`, or everywhere when `None`) with the 403
    /// `Status` RBAC answers with.
    pub fn forbid(&self, verb: &str, plural: &str, namespace: Option<&str>) {
        self.lock().faults.forbidden.push((
            verb.to_string(),
            plural.to_string(),
            namespace.map(str::to_string),
        ));
    }

    /// Holds every answer whose path contains `path_part` for `delay`.
    pub fn slow(&self, path_part: &str, delay: Duration) {
        self.lock().faults.slow.push((path_part.to_string(), delay));
    }

    /// Stores `object` (replacing one of the same kind, namespace and name), as a
    /// controller or the kubelet would write it.
    pub fn put(&self, object: Value) {
        let mut w = self.lock();
        let key = identity(&object);
        w.objects.retain(|o| identity(o) != key);
        w.resource_version += 1;
        w.objects.push(object);
    }

    /// Makes `log` what `GET …/pods/{pod}/log` answers.
    pub fn set_log(&self, namespace: &str, pod: &str, log: String) {
        self.lock()
            .logs
            .insert((namespace.to_string(), pod.to_string()), log);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The objects the server holds now (fixtures and whatever was created).
    pub fn objects(&self) -> Vec<Value> {
        self.lock().objects.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A `kind: Status` answer, as the API server writes it.
fn status(code: StatusCode, reason: &str, message: String, details: Value) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

fn not_served() -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource".to_string(),
        json!({}),
    )
}

/// What a path names: (group, version, namespace, plural, name).
type Target = (String, String, Option<String>, String, Option<String>);

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let s = |x: &&str| x.to_string();
    Some(match rest {
        ["namespaces", ns, plural] => (group, version, Some(s(ns)), s(plural), None),
        ["namespaces", ns, plural, name] => (group, version, Some(s(ns)), s(plural), Some(s(name))),
        [plural] => (group, version, None, s(plural), None),
        [plural, name] => (group, version, None, s(plural), Some(s(name))),
        _ => return None,
    })
}

/// Whether an object carries every `k=v` (or `k` exists, or `!k` absent) of a selector.
fn selects(object: &Value, selector: &str) -> bool {
    let labels = object.pointer("/metadata/labels");
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            get(k) != Some(v)
        } else if let Some((k, v)) = term.split_once('=') {
            get(k.trim_end_matches('=')) == Some(v)
        } else if let Some(k) = term.strip_prefix('!') {
            get(k).is_none()
        } else {
            get(term).is_some()
        }
    })
}

async fn handle(State(world): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let header =
        |h: &HeaderMap, k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        authorization: header(&parts.headers, "authorization"),
        content_type: header(&parts.headers, "content-type"),
        body: serde_json::from_slice(&bytes).ok(),
    };
    let delay = {
        let mut w = world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.requests.push(recorded.clone());
        w.faults
            .slow
            .iter()
            .filter(|(part, _)| recorded.path.contains(part.as_str()))
            .map(|(_, d)| *d)
            .max()
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if recorded.authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".to_string(),
            json!({}),
        );
    }
    if recorded.path == "/version" {
        return axum::Json(json!({
            "major": "1", "minor": "31", "gitVersion": "v1.31.2",
            "gitCommit": "5864a4677267e6adeae276ad85882a8714d69d9d", "gitTreeState": "clean",
            "buildDate": "2024-10-22T20:28:14Z", "goVersion": "go1.22.8", "compiler": "gc",
            "platform": "linux/amd64"
        }))
        .into_response();
    }
    if let ["", "api", "v1", "namespaces", ns, "pods", pod, "log"] =
        recorded.path.split('/').collect::<Vec<_>>().as_slice()
    {
        let w = world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        return match w.logs.get(&(ns.to_string(), pod.to_string())) {
            Some(log) => log.clone().into_response(),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("pods \"{pod}\" not found"),
                json!({"name": pod, "kind": "pods"}),
            ),
        };
    }
    if recorded.param("watch").as_deref() == Some("true") {
        // A watch answers what there is, then ends: not at once, or clients spin.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    answer(&world, &parts.method, &recorded)
}

/// The answer to an API request (everything but pod logs), under the world's lock.
fn answer(world: &Shared, method: &Method, recorded: &Recorded) -> Response {
    let Some((group, version, namespace, plural, name)) = parse_path(&recorded.path) else {
        return not_served();
    };
    let mut w = world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !w
        .served
        .contains(&(group.clone(), version.clone(), plural.clone()))
    {
        return not_served();
    }
    let verb = match (method, &name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) if recorded.param("watch").as_deref() == Some("true") => "watch",
        (&Method::GET, None) => "list",
        (&Method::POST, _) => "create",
        (&Method::PATCH, _) => "patch",
        (&Method::PUT, _) => "update",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        _ => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
    };
    let refused = w.faults.forbidden.iter().any(|(v, p, ns)| {
        v == verb && *p == plural && (ns.is_none() || ns.as_deref() == namespace.as_deref())
    });
    if refused {
        let scope = match &namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{plural} is forbidden: User \"{USER}\" cannot {verb} resource \"{plural}\" in API group \"{group}\" {scope}"
            ),
            json!({"group": group, "kind": plural}),
        );
    }
    let api_version = if group.is_empty() {
        version.clone()
    } else {
        format!("{group}/{version}")
    };
    let kind = w.kind_of(&group, &plural);
    // A namespaced read in a namespace that does not exist is answered as the API server
    // does: an empty list, or a 404 for a named object.
    let matches = |o: &Value| {
        let (g, _) = split_api_version(o["apiVersion"].as_str().unwrap_or_default());
        g == group
            && plural_of(o) == plural
            && match &namespace {
                Some(ns) => o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns),
                None => true,
            }
    };
    let field_name = recorded
        .param("fieldSelector")
        .and_then(|f| f.strip_prefix("metadata.name=").map(str::to_string));
    let named = |o: &Value| {
        field_name
            .as_deref()
            .is_none_or(|n| o.pointer("/metadata/name").and_then(Value::as_str) == Some(n))
    };
    match (verb, name) {
        ("watch", None) => {
            // The state now as ADDED events, then the watch ends, as an API server's watch
            // may at any time: the client must watch again.
            let selector = recorded.param("labelSelector").unwrap_or_default();
            let mut body = String::new();
            for o in w
                .objects
                .iter()
                .filter(|o| matches(o) && named(o) && selects(o, &selector))
            {
                body.push_str(&json!({"type": "ADDED", "object": o}).to_string());
                body.push('\n');
            }
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        ("get", Some(name)) => {
            let found = w.objects.iter().find(|o| {
                matches(o) && o.pointer("/metadata/name").and_then(Value::as_str) == Some(&name)
            });
            match found {
                Some(o) => axum::Json(o.clone()).into_response(),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{plural} \"{name}\" not found"),
                    json!({"name": name, "kind": plural}),
                ),
            }
        }
        ("list", None) => {
            let selector = recorded.param("labelSelector").unwrap_or_default();
            // Built-in types' list items carry no kind or apiVersion; custom resources' do.
            let built_in = BUILT_IN
                .iter()
                .any(|(g, _, p, _)| *g == group && *p == plural)
                || group == "metrics.k8s.io";
            let items: Vec<Value> = w
                .objects
                .iter()
                .filter(|o| matches(o) && named(o) && selects(o, &selector))
                .map(|o| {
                    let mut o = o.clone();
                    if built_in && group != "metrics.k8s.io" {
                        if let Some(map) = o.as_object_mut() {
                            map.remove("kind");
                            map.remove("apiVersion");
                        }
                    }
                    o
                })
                .collect();
            w.resource_version += 1;
            axum::Json(json!({
                "kind": format!("{kind}List"),
                "apiVersion": api_version,
                "metadata": {"resourceVersion": w.resource_version.to_string()},
                "items": items,
            }))
            .into_response()
        }
        ("patch", name @ Some(_)) | ("create", name @ None) => {
            let Some(mut object) = recorded.body.clone() else {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "the body is not JSON".into(),
                    json!({}),
                );
            };
            let apply = verb == "patch";
            if apply {
                // Server-side apply: kube-rs sends JSON as apply YAML and must name a manager.
                if recorded.content_type.as_deref() != Some("application/apply-patch+yaml") {
                    return status(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "UnsupportedMediaType",
                        format!(
                            "the fake API server applies only; got {:?}",
                            recorded.content_type
                        ),
                        json!({}),
                    );
                }
                if recorded.param("fieldManager").is_none() {
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        "PATCH is invalid: fieldManager: Required value: is required for apply patch".into(),
                        json!({}),
                    );
                }
            }
            let name = name
                .or_else(|| {
                    object
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            if let Some(ns) = &namespace {
                object["metadata"]["namespace"] = Value::from(ns.clone());
            }
            object["metadata"]["name"] = Value::from(name.clone());
            let existing = w.objects.iter().position(|o| {
                matches(o)
                    && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name.as_str())
            });
            if existing.is_some() && !apply {
                return status(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("{plural} \"{name}\" already exists"),
                    json!({"name": name, "kind": plural}),
                );
            }
            w.resource_version += 1;
            let rv = w.resource_version.to_string();
            let previous = existing.map(|i| w.objects.remove(i));
            let meta = &mut object["metadata"];
            meta["resourceVersion"] = Value::from(rv);
            meta["uid"] = previous
                .as_ref()
                .and_then(|p| p.pointer("/metadata/uid").cloned())
                .unwrap_or_else(|| Value::from(uuid::Uuid::new_v4().to_string()));
            meta["creationTimestamp"] = previous
                .as_ref()
                .and_then(|p| p.pointer("/metadata/creationTimestamp").cloned())
                .unwrap_or_else(|| Value::from("2026-12-06T12:00:00Z"));
            meta["managedFields"] = json!([{
                "manager": recorded.param("fieldManager").unwrap_or_else(|| "unknown".into()),
                "operation": if apply { "Apply" } else { "Update" },
                "apiVersion": api_version,
                "time": "2026-12-06T12:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {}
            }]);
            object["apiVersion"] = Value::from(api_version.clone());
            object["kind"] = Value::from(kind.clone());
            w.objects.push(object.clone());
            let code = if previous.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (code, axum::Json(object)).into_response()
        }
        ("delete", Some(name)) => {
            let found = w.objects.iter().position(|o| {
                matches(o)
                    && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name.as_str())
            });
            match found {
                Some(i) => {
                    w.objects.remove(i);
                    axum::Json(json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "group": group, "kind": plural, "uid": ""}
                    }))
                    .into_response()
                }
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{plural} \"{name}\" not found"),
                    json!({"name": name, "kind": plural}),
                ),
            }
        }
        _ => Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .body(Body::from("the fake API server does not do this"))
            .unwrap_or_else(|_| StatusCode::METHOD_NOT_ALLOWED.into_response()),
    }
}

fn plural_of(o: &Value) -> String {
    let (group, _) = split_api_version(o["apiVersion"].as_str().unwrap_or_default());
    plural(&group, o["kind"].as_str().unwrap_or_default())
}
