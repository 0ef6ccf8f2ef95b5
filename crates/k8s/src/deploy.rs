//! What meshbench creates in a cluster, and how it removes it again: the benchmark target
//! (the meshbench image running `meshbench target`, a Deployment and a Service, with the
//! mesh's injection labels) applied server-side under one field manager, every object
//! labelled so that teardown finds exactly what meshbench made.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HTTPGetAction, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::Api;

use crate::{Cluster, Error};

/// The field manager of every object meshbench applies.
pub const FIELD_MANAGER: &str = "meshbench";
/// The label every object meshbench makes carries (`app.kubernetes.io/managed-by`).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "meshbench");
/// The target's name: Deployment, Service and pod label `app`.
pub const TARGET_NAME: &str = "meshbench-target";
/// The port the target serves HTTP/1.1 and h2c on.
pub const TARGET_PORT: i32 = 8080;

/// Which data plane the target's pods ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// An Istio sidecar (`sidecar.istio.io/inject: "true"`).
    Istio,
    /// A Linkerd proxy (`linkerd.io/inject: enabled`).
    Linkerd,
    /// No sidecar, whatever the namespace asks (both meshes told no).
    None,
}

impl std::str::FromStr for Injection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "istio" => Ok(Injection::Istio),
            "linkerd" => Ok(Injection::Linkerd),
            "none" | "baseline" => Ok(Injection::None),
            other => Err(format!("unknown mesh `{other}` (istio, linkerd, none)")),
        }
    }
}

/// The benchmark target to deploy.
#[derive(Debug, Clone)]
pub struct TargetPlan {
    /// Where.
    pub namespace: String,
    /// Which sidecar its pods ask for.
    pub mesh: Injection,
    /// Pin its pods to this node (`kubernetes.io/hostname`).
    pub node: Option<String>,
    /// The meshbench image.
    pub image: String,
    /// Pods.
    pub replicas: i32,
}

/// The labels of everything meshbench makes, plus `component`'s own.
pub fn labels(component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        (
            "app.kubernetes.io/name".to_string(),
            "meshbench".to_string(),
        ),
        (
            "app.kubernetes.io/component".to_string(),
            component.to_string(),
        ),
    ])
}

fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

impl TargetPlan {
    /// The Deployment and Service this plan applies.
    pub fn objects(&self) -> (Deployment, Service) {
        let mut pod_labels = labels("target");
        pod_labels.insert("app".to_string(), TARGET_NAME.to_string());
        let mut annotations = BTreeMap::new();
        match self.mesh {
            Injection::Istio => {
                pod_labels.insert("sidecar.istio.io/inject".into(), "true".into());
            }
            Injection::Linkerd => {
                annotations.insert("linkerd.io/inject".into(), "enabled".into());
            }
            Injection::None => {
                pod_labels.insert("sidecar.istio.io/inject".into(), "false".into());
                annotations.insert("linkerd.io/inject".into(), "disabled".into());
            }
        }
        let selector = BTreeMap::from([("app".to_string(), TARGET_NAME.to_string())]);
        let meta = ObjectMeta {
            name: Some(TARGET_NAME.to_string()),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels("target")),
            ..ObjectMeta::default()
        };
        let probe = Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/".into()),
                port: IntOrString::Int(TARGET_PORT),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(5),
            ..Probe::default()
        };
        let container = Container {
            name: "target".into(),
            image: Some(self.image.clone()),
            args: Some(vec![
                "target".into(),
                "--http".into(),
                format!("0.0.0.0:{TARGET_PORT}"),
            ]),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: TARGET_PORT,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            }]),
            readiness_probe: Some(probe),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".to_string(), quantity("500m")),
                    ("memory".to_string(), quantity("64Mi")),
                ])),
                limits: Some(BTreeMap::from([("memory".to_string(), quantity("256Mi"))])),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        };
        let deployment = Deployment {
            metadata: meta.clone(),
            spec: Some(DeploymentSpec {
                replicas: Some(self.replicas),
                selector: LabelSelector {
                    match_labels: Some(selector.clone()),
                    ..LabelSelector::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(pod_labels),
                        annotations: (!annotations.is_empty()).then_some(annotations),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![container],
                        node_selector: self.node.as_ref().map(|n| {
                            BTreeMap::from([("kubernetes.io/hostname".to_string(), n.clone())])
                        }),
                        ..PodSpec::default()
                    }),
                },
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        };
        let service = Service {
            metadata: meta,
            spec: Some(ServiceSpec {
                selector: Some(selector),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: TARGET_PORT,
                    target_port: Some(IntOrString::String("http".into())),
                    protocol: Some("TCP".into()),
                    app_protocol: Some("http".into()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        (deployment, service)
    }

    /// The target's URL inside the cluster.
    pub fn url(&self) -> String {
        format!("http://{TARGET_NAME}.{}.svc:{TARGET_PORT}/", self.namespace)
    }
}

/// What a deploy or teardown touched, as `kind/name`.
pub type Touched = Vec<String>;

impl Cluster {
    /// Applies the target (server-side apply, field manager [`FIELD_MANAGER`], forced so a
    /// re-deploy takes its fields back); the namespace must exist.
    pub async fn deploy_target(&self, plan: &TargetPlan) -> Result<Touched, Error> {
        self.namespace_exists(&plan.namespace).await?;
        let (deployment, service) = plan.objects();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let ns = plan.namespace.as_str();
        let deployments: Api<Deployment> = Api::namespaced(self.client().clone(), ns);
        let services: Api<Service> = Api::namespaced(self.client().clone(), ns);
        self.bounded(
            ("patch", "deployments", Some(ns)),
            deployments.patch(TARGET_NAME, &params, &Patch::Apply(&deployment)),
        )
        .await?;
        self.bounded(
            ("patch", "services", Some(ns)),
            services.patch(TARGET_NAME, &params, &Patch::Apply(&service)),
        )
        .await?;
        Ok(vec![
            format!("deployment/{TARGET_NAME}"),
            format!("service/{TARGET_NAME}"),
        ])
    }

    /// Deletes everything meshbench made in `namespace` (by its label): Jobs, Deployments
    /// and Services.
    pub async fn teardown(&self, namespace: &str) -> Result<Touched, Error> {
        self.namespace_exists(namespace).await?;
        let mut touched = Vec::new();
        // Jobs first: their pods go with them (background propagation, as kubectl does).
        touched.extend(self.delete_ours::<Job>(namespace, "jobs", "job").await?);
        touched.extend(
            self.delete_ours::<Deployment>(namespace, "deployments", "deployment")
                .await?,
        );
        touched.extend(
            self.delete_ours::<Service>(namespace, "services", "service")
                .await?,
        );
        Ok(touched)
    }

    /// Deletes every `K` in `namespace` carrying meshbench's managed-by label; what it
    /// deleted, as `kind/name`.
    async fn delete_ours<K>(
        &self,
        namespace: &str,
        resource: &'static str,
        kind: &str,
    ) -> Result<Touched, Error>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client().clone(), namespace);
        let params = ListParams::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
        let listed = self
            .bounded(("list", resource, Some(namespace)), api.list(&params))
            .await?;
        let mut deleted = Vec::new();
        for object in listed.items {
            let name = object.meta().name.clone().unwrap_or_default();
            self.bounded(
                ("delete", resource, Some(namespace)),
                api.delete(&name, &DeleteParams::background()),
            )
            .await?;
            deleted.push(format!("{kind}/{name}"));
        }
        Ok(deleted)
    }
}
