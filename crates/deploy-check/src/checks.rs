//! meshbench's deployment invariants, checked on parsed objects (plain manifests or a
//! rendered chart alike): labels, scopes, least-privilege RBAC, the probe DaemonSet as the
//! only privileged workload, images, ports and environment variables.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::objects::{Document, Object};

/// The label every object carries, naming the system it belongs to.
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "meshbench");
/// The label naming the application.
pub const NAME: (&str, &str) = ("app.kubernetes.io/name", "meshbench");

/// The node paths the probe DaemonSet mounts: tracefs, bpffs, the cgroup v2 tree.
pub const PROBE_HOST_PATHS: [&str; 3] = ["/sys/kernel/tracing", "/sys/fs/bpf", "/sys/fs/cgroup"];

/// What a deployment of meshbench must be, for [`check`].
#[derive(Debug, Clone)]
pub struct Expect {
    /// The release name: the ServiceAccount's and Service's name, the prefix of the others.
    pub name: String,
    /// The namespace meshbench runs in.
    pub namespace: String,
    /// meshbench's version (`app.kubernetes.io/version`).
    pub version: String,
    /// The image every container runs.
    pub image: String,
    /// The namespaces meshbench may benchmark in (one Role and RoleBinding each).
    pub benchmark_namespaces: Vec<String>,
    /// Where Cilium's `cilium-config` is read.
    pub cilium_namespace: String,
    /// Whether the probe DaemonSet is deployed.
    pub probe_workers: bool,
    /// Every environment variable meshbench reads (`.env.example` and the documented
    /// extras such as `MESHBENCH_NO_BPF`).
    pub env_names: BTreeSet<String>,
    /// The API's port (`API_PORT` of `.env.example`).
    pub api_port: i32,
}

/// One permission: an API group, a resource, an optional resource name, a verb.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// The API group (`""` for the core group).
    pub group: String,
    /// The resource (or `resource/subresource`).
    pub resource: String,
    /// The one object the grant is limited to, if any.
    pub name: Option<String>,
    /// The verb.
    pub verb: String,
}

/// A rule written out: API group, resources, the one object it is limited to, verbs.
type RuleSpec<'a> = (&'a str, &'a [&'a str], Option<&'a str>, &'a [&'a str]);

fn grants(spec: &[RuleSpec<'_>]) -> BTreeSet<Grant> {
    let mut set = BTreeSet::new();
    for (group, resources, name, verbs) in spec {
        for resource in *resources {
            for verb in *verbs {
                set.insert(Grant {
                    group: group.to_string(),
                    resource: resource.to_string(),
                    name: name.map(str::to_string),
                    verb: verb.to_string(),
                });
            }
        }
    }
    set
}

/// The cluster-wide grants: exactly what listings and mesh detection read.
pub fn detect_grants() -> BTreeSet<Grant> {
    let read: &[&str] = &["get", "list", "watch"];
    grants(&[
        ("", &["namespaces", "pods", "services"], None, read),
        ("apps", &["deployments", "daemonsets"], None, read),
        (
            "security.istio.io",
            &["peerauthentications"],
            None,
            &["list"],
        ),
        ("gateway.networking.k8s.io", &["gateways"], None, &["list"]),
        ("metrics.k8s.io", &["pods"], None, &["list"]),
    ])
}

/// The grants in Cilium's namespace: `get` of `cilium-config` only.
pub fn cilium_grants() -> BTreeSet<Grant> {
    grants(&[("", &["configmaps"], Some("cilium-config"), &["get"])])
}

/// The grants in each namespace meshbench may benchmark in.
pub fn benchmark_grants() -> BTreeSet<Grant> {
    let manage: &[&str] = &["create", "get", "list", "watch", "patch", "delete"];
    grants(&[
        ("apps", &["deployments"], None, manage),
        ("", &["services"], None, manage),
        ("batch", &["jobs"], None, manage),
        ("", &["pods"], None, &["get", "list", "watch"]),
        ("", &["pods/log"], None, &["get"]),
    ])
}

/// Every grant `rules` make.
pub fn expand(rules: &[PolicyRule]) -> BTreeSet<Grant> {
    let mut set = BTreeSet::new();
    for rule in rules {
        let names: Vec<Option<String>> = match &rule.resource_names {
            Some(n) if !n.is_empty() => n.iter().cloned().map(Some).collect(),
            _ => vec![None],
        };
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for name in &names {
                    for verb in &rule.verbs {
                        set.insert(Grant {
                            group: group.clone(),
                            resource: resource.clone(),
                            name: name.clone(),
                            verb: verb.clone(),
                        });
                    }
                }
            }
        }
    }
    set
}

/// Every violation of meshbench's invariants in `docs`, one line each (empty: all kept).
pub fn check(docs: &[Document], expect: &Expect) -> Vec<String> {
    let mut errors = Vec::new();
    labels_and_scopes(docs, expect, &mut errors);
    rbac(docs, expect, &mut errors);
    workloads(docs, expect, &mut errors);
    configuration(docs, expect, &mut errors);
    service(docs, expect, &mut errors);
    service_monitors(docs, expect, &mut errors);
    errors
}

fn label<'a>(labels: &'a Option<BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    labels.as_ref().and_then(|l| l.get(key)).map(String::as_str)
}

fn expected_labels(expect: &Expect) -> [(&'static str, String); 4] {
    [
        (PART_OF.0, PART_OF.1.to_string()),
        (NAME.0, NAME.1.to_string()),
        ("app.kubernetes.io/instance", expect.name.clone()),
        ("app.kubernetes.io/version", expect.version.clone()),
    ]
}

fn labels_and_scopes(docs: &[Document], expect: &Expect, errors: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    for doc in docs {
        let o = &doc.object;
        let meta = o.metadata();
        if o.name().is_empty() {
            errors.push(format!("{doc}: no metadata.name"));
        }
        if !seen.insert((o.kind(), o.namespace().to_string(), o.name().to_string())) {
            errors.push(format!("{doc}: defined twice"));
        }
        for (key, value) in expected_labels(expect) {
            if label(&meta.labels, key) != Some(value.as_str()) {
                errors.push(format!("{doc}: label {key} is not `{value}`"));
            }
        }
        if label(&meta.labels, "app.kubernetes.io/component").is_none() {
            errors.push(format!("{doc}: no app.kubernetes.io/component label"));
        }
        let allowed: Vec<&str> = match o {
            _ if !o.namespaced() => vec![""],
            Object::Role(_) | Object::RoleBinding(_) => expect
                .benchmark_namespaces
                .iter()
                .map(String::as_str)
                .chain([expect.cilium_namespace.as_str()])
                .collect(),
            _ => vec![expect.namespace.as_str()],
        };
        if !allowed.contains(&o.namespace()) {
            errors.push(format!(
                "{doc}: in namespace `{}`, expected one of {allowed:?}",
                o.namespace()
            ));
        }
        if let Object::Namespace(_) = o {
            let known = o.name() == expect.namespace
                || expect.benchmark_namespaces.iter().any(|n| n == o.name());
            if !known {
                errors.push(format!(
                    "{doc}: neither meshbench's nor a benchmark namespace"
                ));
            }
        }
        if let Some((template, selector)) = pod_template(o) {
            for (key, value) in expected_labels(expect) {
                if label(
                    &template.metadata.as_ref().and_then(|m| m.labels.clone()),
                    key,
                ) != Some(value.as_str())
                {
                    errors.push(format!("{doc}: pod template label {key} is not `{value}`"));
                }
            }
            let pod_labels = template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            let match_labels = selector.match_labels.clone().unwrap_or_default();
            if match_labels.is_empty() || selector.match_expressions.is_some() {
                errors.push(format!("{doc}: the selector must be matchLabels only"));
            }
            for (k, v) in &match_labels {
                if pod_labels.get(k) != Some(v) {
                    errors.push(format!("{doc}: selector {k}={v} does not match its pods"));
                }
            }
        }
    }
}

fn pod_template(o: &Object) -> Option<(&PodTemplateSpec, &LabelSelector)> {
    match o {
        Object::Deployment(d) => d.spec.as_ref().map(|s| (&s.template, &s.selector)),
        Object::DaemonSet(d) => d.spec.as_ref().map(|s| (&s.template, &s.selector)),
        _ => None,
    }
}

fn rbac(docs: &[Document], expect: &Expect, errors: &mut Vec<String>) {
    let sa = |n: &str| format!("{}{n}", expect.name);
    let mut cluster_roles = Vec::new();
    let mut roles = Vec::new();
    for doc in docs {
        match &doc.object {
            Object::ClusterRole(r) => {
                if r.aggregation_rule.is_some() {
                    errors.push(format!("{doc}: aggregates other roles"));
                }
                cluster_roles.push((doc, r.rules.clone().unwrap_or_default()));
            }
            Object::Role(r) => roles.push((doc, r.rules.clone().unwrap_or_default())),
            _ => {}
        }
    }
    for (doc, rules) in cluster_roles.iter().chain(&roles) {
        for rule in rules {
            let words = rule
                .api_groups
                .iter()
                .flatten()
                .chain(rule.resources.iter().flatten())
                .chain(rule.resource_names.iter().flatten())
                .chain(&rule.verbs);
            for w in words {
                if w.contains('*') {
                    errors.push(format!("{doc}: wildcard `{w}`"));
                }
            }
            if rule.non_resource_urls.is_some() {
                errors.push(format!("{doc}: grants non-resource URLs"));
            }
            if rule.api_groups.as_ref().is_none_or(Vec::is_empty)
                || rule.resources.as_ref().is_none_or(Vec::is_empty)
            {
                errors.push(format!("{doc}: a rule without apiGroups or resources"));
            }
        }
        for g in expand(rules) {
            if g.resource == "secrets" || g.resource.starts_with("secrets/") {
                errors.push(format!("{doc}: grants {} on secrets", g.verb));
            }
            if matches!(g.verb.as_str(), "escalate" | "bind" | "impersonate") {
                errors.push(format!("{doc}: grants {}", g.verb));
            }
        }
    }
    // Cluster-wide: exactly one ClusterRole, read only, exactly the detection grants.
    match cluster_roles.as_slice() {
        [(doc, rules)] => {
            let got = expand(rules);
            for g in &got {
                if !matches!(g.verb.as_str(), "get" | "list" | "watch") {
                    errors.push(format!(
                        "{doc}: cluster-wide {} on {}/{}",
                        g.verb, g.group, g.resource
                    ));
                }
            }
            compare_grants(doc, &got, &detect_grants(), errors);
            if doc.object.name() != sa("-detect") {
                errors.push(format!("{doc}: expected the name {}", sa("-detect")));
            }
        }
        other => errors.push(format!(
            "expected exactly one ClusterRole, found {}",
            other.len()
        )),
    }
    // Namespaced: one Role in Cilium's namespace, one per benchmark namespace.
    let mut expected_roles: Vec<(String, String, BTreeSet<Grant>)> = vec![(
        expect.cilium_namespace.clone(),
        sa("-cilium-config"),
        cilium_grants(),
    )];
    for ns in &expect.benchmark_namespaces {
        expected_roles.push((ns.clone(), sa("-benchmark"), benchmark_grants()));
    }
    for (ns, name, want) in &expected_roles {
        let found: Vec<_> = roles
            .iter()
            .filter(|(d, _)| d.object.namespace() == ns && d.object.name() == name)
            .collect();
        match found.as_slice() {
            [(doc, rules)] => compare_grants(doc, &expand(rules), want, errors),
            _ => errors.push(format!(
                "expected one Role {name} in {ns}, found {}",
                found.len()
            )),
        }
    }
    for (doc, _) in &roles {
        let expected = expected_roles
            .iter()
            .any(|(ns, name, _)| doc.object.namespace() == ns && doc.object.name() == name);
        if !expected {
            errors.push(format!("{doc}: a Role meshbench does not need"));
        }
    }
    // Bindings: each to a role defined here, for meshbench's ServiceAccount only.
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: expect.name.clone(),
        namespace: Some(expect.namespace.clone()),
        api_group: None,
    };
    let mut bound = BTreeSet::new();
    for doc in docs {
        let (role_ref, subjects, role_kind): (&RoleRef, _, _) = match &doc.object {
            Object::ClusterRoleBinding(b) => (&b.role_ref, &b.subjects, "ClusterRole"),
            Object::RoleBinding(b) => (&b.role_ref, &b.subjects, "Role"),
            _ => continue,
        };
        if role_ref.kind != role_kind || role_ref.api_group != "rbac.authorization.k8s.io" {
            errors.push(format!(
                "{doc}: binds a {} ({}), expected a {role_kind}",
                role_ref.kind, role_ref.api_group
            ));
        }
        let target = docs.iter().find(|d| {
            d.object.kind() == role_kind
                && d.object.name() == role_ref.name
                && d.object.namespace() == doc.object.namespace()
        });
        match target {
            Some(t) => {
                bound.insert((
                    t.object.namespace().to_string(),
                    t.object.name().to_string(),
                ));
            }
            None => errors.push(format!(
                "{doc}: binds {role_kind} {} that is not defined here",
                role_ref.name
            )),
        }
        if subjects.as_deref() != Some(std::slice::from_ref(&subject)) {
            errors.push(format!(
                "{doc}: subjects must be exactly ServiceAccount {}/{}",
                expect.namespace, expect.name
            ));
        }
    }
    for (doc, _) in cluster_roles.iter().chain(&roles) {
        let key = (
            doc.object.namespace().to_string(),
            doc.object.name().to_string(),
        );
        if !bound.contains(&key) {
            errors.push(format!("{doc}: bound by nothing"));
        }
    }
    let accounts: Vec<_> = docs
        .iter()
        .filter(|d| matches!(d.object, Object::ServiceAccount(_)))
        .collect();
    let ok = matches!(accounts.as_slice(), [d] if d.object.name() == expect.name
        && d.object.namespace() == expect.namespace);
    if !ok {
        errors.push(format!(
            "expected exactly one ServiceAccount, {}/{}",
            expect.namespace, expect.name
        ));
    }
}

fn compare_grants(
    doc: &Document,
    got: &BTreeSet<Grant>,
    want: &BTreeSet<Grant>,
    errors: &mut Vec<String>,
) {
    let show = |g: &Grant| {
        let group = if g.group.is_empty() { "core" } else { &g.group };
        match &g.name {
            Some(n) => format!("{} {group}/{}/{n}", g.verb, g.resource),
            None => format!("{} {group}/{}", g.verb, g.resource),
        }
    };
    for g in got.difference(want) {
        errors.push(format!("{doc}: grants more than needed: {}", show(g)));
    }
    for g in want.difference(got) {
        errors.push(format!("{doc}: lacks a needed grant: {}", show(g)));
    }
}

/// Why a pod spec is privileged, one reason each (empty: it runs as the `restricted` Pod
/// Security Standard asks: non-root, no privilege escalation, every capability dropped,
/// the runtime's seccomp profile, nothing of the host's).
pub fn privileges(spec: &PodSpec) -> Vec<String> {
    let mut why = Vec::new();
    if spec.host_pid == Some(true) {
        why.push("hostPID".to_string());
    }
    if spec.host_network == Some(true) {
        why.push("hostNetwork".to_string());
    }
    if spec.host_ipc == Some(true) {
        why.push("hostIPC".to_string());
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(h) = &v.host_path {
            why.push(format!("hostPath volume {} ({})", v.name, h.path));
        }
    }
    let pod = spec.security_context.clone().unwrap_or_default();
    let pod_seccomp = pod.seccomp_profile.as_ref().map(|p| p.type_.as_str());
    for c in all_containers(spec) {
        let sc = c.security_context.clone().unwrap_or_default();
        let name = &c.name;
        if sc.privileged == Some(true) {
            why.push(format!("container {name}: privileged"));
        }
        if sc.allow_privilege_escalation != Some(false) {
            why.push(format!(
                "container {name}: allowPrivilegeEscalation is not false"
            ));
        }
        let user = sc.run_as_user.or(pod.run_as_user);
        if user == Some(0) {
            why.push(format!("container {name}: runs as root"));
        }
        if sc.run_as_non_root.or(pod.run_as_non_root) != Some(true) {
            why.push(format!("container {name}: runAsNonRoot is not true"));
        }
        let caps = sc.capabilities.clone().unwrap_or_default();
        if let Some(add) = caps.add.filter(|a| !a.is_empty()) {
            why.push(format!("container {name}: adds capabilities {add:?}"));
        }
        if !caps.drop.iter().flatten().any(|d| d == "ALL") {
            why.push(format!("container {name}: does not drop ALL capabilities"));
        }
        let seccomp = sc
            .seccomp_profile
            .as_ref()
            .map(|p| p.type_.as_str())
            .or(pod_seccomp);
        if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
            why.push(format!(
                "container {name}: no RuntimeDefault seccomp profile"
            ));
        }
    }
    why
}

fn all_containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
}

fn env_value<'a>(c: &'a Container, name: &str) -> Option<&'a str> {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .map(|e| e.value.as_deref().unwrap_or(""))
}

fn workloads(docs: &[Document], expect: &Expect, errors: &mut Vec<String>) {
    let name = |suffix: &str| format!("{}{suffix}", expect.name);
    // (kind, name, arguments, MESHBENCH_NO_BPF, privileged)
    let mut wanted = vec![
        ("Deployment", name("-server"), "serve", Some("1"), false),
        ("Deployment", name("-worker"), "worker", Some("1"), false),
    ];
    if expect.probe_workers {
        wanted.push(("DaemonSet", name("-probe-worker"), "worker", None, true));
    }
    let mut seen = Vec::new();
    for doc in docs {
        let Some((template, _)) = pod_template(&doc.object) else {
            continue;
        };
        let kind = doc.object.kind();
        let Some(&(_, _, command, no_bpf, privileged)) = wanted
            .iter()
            .find(|(k, n, ..)| *k == kind && n == doc.object.name())
        else {
            errors.push(format!("{doc}: a workload meshbench does not define"));
            continue;
        };
        seen.push((kind, doc.object.name().to_string()));
        let Some(spec) = &template.spec else {
            errors.push(format!("{doc}: no pod spec"));
            continue;
        };
        if spec.service_account_name.as_deref() != Some(expect.name.as_str()) {
            errors.push(format!("{doc}: serviceAccountName is not {}", expect.name));
        }
        if spec.automount_service_account_token == Some(false) {
            errors.push(format!(
                "{doc}: no service-account token (kube-rs needs it in a pod)"
            ));
        }
        if spec.containers.len() != 1 || spec.init_containers.is_some() {
            errors.push(format!("{doc}: expected exactly one container"));
        }
        for c in all_containers(spec) {
            if c.image.as_deref() != Some(expect.image.as_str()) {
                errors.push(format!(
                    "{doc}: container {} runs {:?}, expected {}",
                    c.name, c.image, expect.image
                ));
            }
            if c.command.is_some() || c.args.as_deref() != Some(&[command.to_string()][..]) {
                errors.push(format!(
                    "{doc}: container {} must run `meshbench {command}`",
                    c.name
                ));
            }
            let resources = c.resources.clone().unwrap_or_default();
            for (what, set) in [
                ("requests", &resources.requests),
                ("limits", &resources.limits),
            ] {
                for key in ["cpu", "memory"] {
                    if set.as_ref().and_then(|s| s.get(key)).is_none() {
                        errors.push(format!("{doc}: container {} has no {what}.{key}", c.name));
                    }
                }
            }
            if env_value(c, "MESHBENCH_NO_BPF") != no_bpf {
                errors.push(format!(
                    "{doc}: container {}: MESHBENCH_NO_BPF should be {no_bpf:?}",
                    c.name
                ));
            }
            let loops = env_value(c, "MESHBENCH_WORKERS").and_then(|v| v.parse::<u32>().ok());
            let least = if command == "worker" { 1 } else { 0 };
            if loops.is_none_or(|l| l < least) {
                errors.push(format!(
                    "{doc}: container {}: MESHBENCH_WORKERS must be a number ≥ {least}",
                    c.name
                ));
            }
            if command == "worker" && c.ports.as_ref().is_some_and(|p| !p.is_empty()) {
                errors.push(format!("{doc}: a worker exposes no port"));
            }
            if c.security_context
                .as_ref()
                .and_then(|s| s.read_only_root_filesystem)
                != Some(true)
            {
                errors.push(format!(
                    "{doc}: container {}: root filesystem writable",
                    c.name
                ));
            }
        }
        let why = privileges(spec);
        if privileged {
            probe_privileges(doc, spec, &why, errors);
        } else if !why.is_empty() {
            errors.push(format!(
                "{doc}: privileged, and only the probe DaemonSet may be: {}",
                why.join(", ")
            ));
        }
    }
    for (kind, name, ..) in &wanted {
        if !seen.iter().any(|(k, n)| k == kind && n == name) {
            errors.push(format!("missing {kind} {name}"));
        }
    }
}

fn probe_privileges(doc: &Document, spec: &PodSpec, why: &[String], errors: &mut Vec<String>) {
    for needed in [
        "hostPID",
        "container probe-worker: privileged",
        "container probe-worker: runs as root",
    ] {
        if !why.iter().any(|w| w == needed) {
            errors.push(format!("{doc}: the probe needs {needed}"));
        }
    }
    if spec.host_network == Some(true) || spec.host_ipc == Some(true) {
        errors.push(format!(
            "{doc}: the probe needs neither hostNetwork nor hostIPC"
        ));
    }
    let host_paths: BTreeMap<&str, &str> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            v.host_path
                .as_ref()
                .map(|h| (v.name.as_str(), h.path.as_str()))
        })
        .collect();
    let mut paths: Vec<&str> = host_paths.values().copied().collect();
    paths.sort_unstable();
    let mut want = PROBE_HOST_PATHS.to_vec();
    want.sort_unstable();
    if paths != want {
        errors.push(format!(
            "{doc}: hostPath volumes {paths:?}, expected {want:?}"
        ));
    }
    for c in &spec.containers {
        for (volume, path) in &host_paths {
            let mounted = c.volume_mounts.iter().flatten().find(|m| m.name == *volume);
            match mounted {
                Some(m) if m.mount_path == *path => {
                    if *path == "/sys/fs/cgroup" && m.read_only != Some(true) {
                        errors.push(format!("{doc}: the cgroup tree is mounted writable"));
                    }
                }
                _ => errors.push(format!("{doc}: {path} is not mounted at {path}")),
            }
        }
    }
}

fn configuration(docs: &[Document], expect: &Expect, errors: &mut Vec<String>) {
    let config_maps: BTreeMap<(&str, &str), BTreeMap<String, String>> = docs
        .iter()
        .filter_map(|d| match &d.object {
            Object::ConfigMap(c) => Some((
                (d.object.namespace(), d.object.name()),
                c.data.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    let secrets: BTreeMap<(&str, &str), BTreeMap<String, String>> = docs
        .iter()
        .filter_map(|d| match &d.object {
            Object::Secret(s) => {
                let mut data = s.string_data.clone().unwrap_or_default();
                for (k, v) in s.data.iter().flatten() {
                    data.insert(k.clone(), String::from_utf8_lossy(&v.0).into_owned());
                }
                Some(((d.object.namespace(), d.object.name()), data))
            }
            _ => None,
        })
        .collect();
    for doc in docs {
        if let Object::ConfigMap(_) | Object::Secret(_) = doc.object {
            let key = (doc.object.namespace(), doc.object.name());
            let data = config_maps.get(&key).or_else(|| secrets.get(&key));
            for (k, v) in data.into_iter().flatten() {
                if !expect.env_names.contains(k) {
                    errors.push(format!("{doc}: {k} is not a variable meshbench reads"));
                }
                setting_value(doc, k, v, expect, errors);
            }
        }
        let Some((template, _)) = pod_template(&doc.object) else {
            continue;
        };
        let ns = doc.object.namespace();
        for c in template.spec.iter().flat_map(all_containers) {
            // Every variable the container sees: name → (where from, value).
            let mut env: BTreeMap<String, (String, String)> = BTreeMap::new();
            for from in c.env_from.iter().flatten() {
                if from.prefix.is_some() {
                    errors.push(format!("{doc}: envFrom with a prefix"));
                }
                let (kind, name, optional, source) = match (&from.config_map_ref, &from.secret_ref)
                {
                    (Some(r), None) => (
                        "ConfigMap",
                        &r.name,
                        r.optional,
                        config_maps.get(&(ns, r.name.as_str())),
                    ),
                    (None, Some(r)) => (
                        "Secret",
                        &r.name,
                        r.optional,
                        secrets.get(&(ns, r.name.as_str())),
                    ),
                    _ => {
                        errors.push(format!("{doc}: envFrom must name one ConfigMap or Secret"));
                        continue;
                    }
                };
                if optional == Some(true) {
                    errors.push(format!("{doc}: envFrom {kind} {name} is optional"));
                }
                match source {
                    Some(data) => {
                        for (k, v) in data {
                            env.insert(k.clone(), (kind.to_string(), v.clone()));
                        }
                    }
                    None => errors.push(format!(
                        "{doc}: envFrom {kind} {name} is not defined in {ns}"
                    )),
                }
            }
            for e in c.env.iter().flatten() {
                // The node's name comes from the downward API, which only valueFrom reaches.
                let node_name = e.name == "NODE_NAME"
                    && e.value_from
                        .as_ref()
                        .and_then(|v| v.field_ref.as_ref())
                        .is_some_and(|f| f.field_path == "spec.nodeName");
                if e.value_from.is_some() && !node_name {
                    errors.push(format!(
                        "{doc}: env {} takes valueFrom; use envFrom",
                        e.name
                    ));
                }
                env.insert(
                    e.name.clone(),
                    ("env".into(), e.value.clone().unwrap_or_default()),
                );
            }
            for (k, (_, v)) in &env {
                if !expect.env_names.contains(k) {
                    errors.push(format!(
                        "{doc}: container {}: {k} is not a variable meshbench reads",
                        c.name
                    ));
                }
                setting_value(doc, k, v, expect, errors);
            }
            for url in ["DATABASE_URL", "REDIS_URL"] {
                if env.get(url).map(|(from, _)| from.as_str()) != Some("Secret") {
                    errors.push(format!(
                        "{doc}: container {}: {url} must come from a Secret",
                        c.name
                    ));
                }
            }
            // The directories meshbench writes must be on a volume (the root is read-only).
            for dir in ["RESULTS_DIR", "MESHBENCH_DATA_DIR"] {
                let path = env.get(dir).map(|(_, v)| v.as_str()).unwrap_or("");
                let on_volume = c.volume_mounts.iter().flatten().any(|m| {
                    m.read_only != Some(true)
                        && path.starts_with(&m.mount_path)
                        && path[m.mount_path.len()..].starts_with('/')
                });
                if !on_volume {
                    errors.push(format!(
                        "{doc}: container {}: {dir}=`{path}` is not on a writable volume",
                        c.name
                    ));
                }
            }
        }
    }
}

/// Checks one setting's value as meshbench's configuration parses it.
fn setting_value(
    doc: &Document,
    name: &str,
    value: &str,
    expect: &Expect,
    errors: &mut Vec<String>,
) {
    let number = |v: &str| v.parse::<u64>().is_ok();
    let ok = match name {
        "DATABASE_URL" => value.starts_with("postgres://") || value.starts_with("postgresql://"),
        "REDIS_URL" => value.starts_with("redis://") || value.starts_with("rediss://"),
        "API_HOST" => value == "0.0.0.0",
        "API_PORT" => value == expect.api_port.to_string(),
        "DEBUG" => matches!(value, "true" | "false"),
        "MESHBENCH_NO_BPF" => value == "1",
        "RESULTS_DIR" | "MESHBENCH_DATA_DIR" => value.starts_with('/'),
        "MESHBENCH_KUBE_TIMEOUT" | "MESHBENCH_METRICS_INTERVAL" => number(value) && value != "0",
        "MESHBENCH_WORKERS"
        | "MESHBENCH_LEASE_SECONDS"
        | "MESHBENCH_MIN_DURATION"
        | "MESHBENCH_MAX_DURATION"
        | "MESHBENCH_MAX_CONNECTIONS"
        | "MESHBENCH_MAX_RATE"
        | "MESHBENCH_MAX_BODY_BYTES" => number(value),
        _ => true,
    };
    if !ok {
        errors.push(format!(
            "{doc}: {name}=`{value}` is not a value meshbench accepts here"
        ));
    }
}

fn service(docs: &[Document], expect: &Expect, errors: &mut Vec<String>) {
    let services: Vec<_> = docs
        .iter()
        .filter_map(|d| match &d.object {
            Object::Service(s) => Some((d, s)),
            _ => None,
        })
        .collect();
    let [(doc, svc)] = services.as_slice() else {
        errors.push(format!(
            "expected exactly one Service, found {}",
            services.len()
        ));
        return;
    };
    if doc.object.name() != expect.name {
        errors.push(format!("{doc}: expected the name {}", expect.name));
    }
    let spec = svc.spec.clone().unwrap_or_default();
    let selector = spec.selector.clone().unwrap_or_default();
    let server_name = format!("{}-server", expect.name);
    let mut server = None;
    for d in docs {
        let Some((template, workload_selector)) = pod_template(&d.object) else {
            continue;
        };
        let labels = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let selected =
            !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v));
        let is_server = d.object.kind() == "Deployment" && d.object.name() == server_name;
        if selected != is_server {
            errors.push(format!(
                "{doc}: selects {d}: {selected}, expected {is_server}"
            ));
        }
        if is_server {
            if workload_selector.match_labels.as_ref() != Some(&selector) {
                errors.push(format!("{doc}: its selector differs from {d}'s"));
            }
            server = template.spec.as_ref().and_then(|s| s.containers.first());
        }
    }
    let Some(container) = server else {
        errors.push(format!("{doc}: no server container to send traffic to"));
        return;
    };
    let resolve = |port: &IntOrString| -> Option<i32> {
        match port {
            IntOrString::Int(p) => Some(*p),
            IntOrString::String(name) => container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name))
                .map(|p| p.container_port),
        }
    };
    let ports = spec.ports.clone().unwrap_or_default();
    if ports.len() != 1 {
        errors.push(format!("{doc}: expected one port"));
    }
    for p in &ports {
        let target = p.target_port.as_ref().map_or(Some(p.port), resolve);
        if target != Some(expect.api_port) {
            errors.push(format!(
                "{doc}: port {} reaches {target:?}, expected API_PORT {}",
                p.port, expect.api_port
            ));
        }
    }
    let container_ports: Vec<i32> = container
        .ports
        .iter()
        .flatten()
        .map(|p| p.container_port)
        .collect();
    if container_ports != [expect.api_port] {
        errors.push(format!(
            "{doc}: the server listens on {container_ports:?}, expected [{}]",
            expect.api_port
        ));
    }
    let readiness = container
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref());
    match readiness {
        Some(get)
            if get.path.as_deref() == Some("/health")
                && resolve(&get.port) == Some(expect.api_port) => {}
        _ => errors.push(format!(
            "{doc}: the server's readiness probe must GET /health on port {}",
            expect.api_port
        )),
    }
}

/// A ServiceMonitor scrapes meshbench's Service: its selector picks that Service, in
/// meshbench's namespace, on a port the Service names, at `/metrics`, with a bearer token
/// from a Secret (once users exist, which a server serving beyond loopback needs, every
/// request needs a login).
fn service_monitors(docs: &[Document], expect: &Expect, errors: &mut Vec<String>) {
    let service = docs.iter().find_map(|d| match &d.object {
        Object::Service(s) => Some((
            s.metadata.labels.clone().unwrap_or_default(),
            s.spec
                .as_ref()
                .and_then(|s| s.ports.clone())
                .unwrap_or_default(),
        )),
        _ => None,
    });
    for doc in docs {
        let Object::ServiceMonitor(monitor) = &doc.object else {
            continue;
        };
        let Some((labels, ports)) = &service else {
            errors.push(format!("{doc}: no Service to scrape"));
            continue;
        };
        let spec = &monitor.spec;
        let wanted = spec.selector.match_labels.clone().unwrap_or_default();
        if wanted.is_empty() || spec.selector.match_expressions.is_some() {
            errors.push(format!("{doc}: the selector must be matchLabels only"));
        }
        for (k, v) in &wanted {
            if labels.get(k) != Some(v) {
                errors.push(format!(
                    "{doc}: selector {k}={v} does not match the Service"
                ));
            }
        }
        if let Some(namespaces) = &spec.namespace_selector {
            if namespaces.match_names != [expect.namespace.clone()] {
                errors.push(format!(
                    "{doc}: scrapes in {:?}, expected [{}]",
                    namespaces.match_names, expect.namespace
                ));
            }
        }
        if spec.endpoints.is_empty() {
            errors.push(format!("{doc}: no endpoints"));
        }
        for endpoint in &spec.endpoints {
            if !ports
                .iter()
                .any(|p| p.name.as_deref() == Some(&endpoint.port))
            {
                errors.push(format!(
                    "{doc}: port `{}` is not a port the Service names",
                    endpoint.port
                ));
            }
            if endpoint.path.as_deref().unwrap_or("/metrics") != "/metrics" {
                errors.push(format!("{doc}: scrapes {:?}, not /metrics", endpoint.path));
            }
            match &endpoint.authorization {
                Some(a)
                    if a.scheme.as_deref().unwrap_or("Bearer") == "Bearer"
                        && !a.credentials.name.is_empty()
                        && !a.credentials.key.is_empty() => {}
                _ => errors.push(format!(
                    "{doc}: scrapes without a bearer token from a Secret, which a server \
                     with users refuses"
                )),
            }
        }
    }
}
