//! Load from inside the cluster: a benchmark run as a Kubernetes Job of `meshbench run`
//! pods (an Indexed Job with one pod per generator, all starting at one agreed instant),
//! watched to its end, its pods' JSON results read back from their logs.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodTemplateSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams, WatchEvent, WatchParams};
use kube::Api;

use crate::deploy::labels;
use crate::{Cluster, Error};

/// The label naming the run a load Job belongs to.
pub const RUN_LABEL: &str = "meshbench.io/run-id";
/// The pod annotation (and label) Kubernetes puts on each pod of an Indexed Job.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// A run's load as a Job.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The namespace it runs in (the target's, so the namespace's mesh applies to it).
    pub namespace: String,
    /// The run's job id.
    pub run_id: String,
    /// Generators: pods, each running `args`.
    pub generators: u32,
    /// The meshbench image.
    pub image: String,
    /// Pin the pods to this node.
    pub node: Option<String>,
    /// `meshbench` arguments each pod runs (`run URL …`).
    pub args: Vec<String>,
    /// Seconds after which Kubernetes stops the Job.
    pub deadline_s: i64,
}

impl LoadPlan {
    /// The Job's name: `meshbench-run-` and the run id's first 8 characters.
    pub fn job_name(&self) -> String {
        let short: String = self
            .run_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect();
        format!("meshbench-run-{}", short.to_ascii_lowercase())
    }

    /// The Job object.
    pub fn job(&self) -> Job {
        let mut job_labels = labels("load");
        job_labels.insert(RUN_LABEL.to_string(), self.run_id.clone());
        let n = i32::try_from(self.generators).unwrap_or(i32::MAX);
        Job {
            metadata: ObjectMeta {
                name: Some(self.job_name()),
                namespace: Some(self.namespace.clone()),
                labels: Some(job_labels.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(JobSpec {
                completion_mode: Some("Indexed".into()),
                completions: Some(n),
                parallelism: Some(n),
                // A generator that fails is reported, not re-run: a second try would
                // measure other seconds than its siblings.
                backoff_limit: Some(0),
                active_deadline_seconds: Some(self.deadline_s),
                ttl_seconds_after_finished: Some(3600),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(job_labels),
                        // A mesh's proxy, where the namespace injects one, must not outlive
                        // `meshbench run`, or the Job never completes: ask for it as a native
                        // sidecar (Istio 1.20+, Linkerd 2.15+; ignored elsewhere).
                        annotations: Some(BTreeMap::from([
                            (
                                "sidecar.istio.io/nativeSidecar".to_string(),
                                "true".to_string(),
                            ),
                            (
                                "config.alpha.linkerd.io/proxy-enable-native-sidecar".to_string(),
                                "true".to_string(),
                            ),
                        ])),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        restart_policy: Some("Never".into()),
                        node_selector: self.node.as_ref().map(|n| {
                            BTreeMap::from([("kubernetes.io/hostname".to_string(), n.clone())])
                        }),
                        containers: vec![Container {
                            name: "run".into(),
                            image: Some(self.image.clone()),
                            args: Some(self.args.clone()),
                            resources: Some(ResourceRequirements {
                                requests: Some(BTreeMap::from([
                                    ("cpu".to_string(), Quantity("1".into())),
                                    ("memory".to_string(), Quantity("128Mi".into())),
                                ])),
                                ..ResourceRequirements::default()
                            }),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                },
                ..JobSpec::default()
            }),
            ..Job::default()
        }
    }
}

/// Where a load Job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Still running: pods succeeded so far.
    Running(u32),
    /// Every pod succeeded.
    Complete,
    /// Kubernetes gave it up; its condition's reason and message.
    Failed(String),
}

fn state_of(job: &Job) -> JobState {
    let status = job.status.as_ref();
    for c in status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]) {
        if c.status == "True" {
            match c.type_.as_str() {
                "Complete" | "SuccessCriteriaMet" => return JobState::Complete,
                "Failed" | "FailureTarget" => {
                    return JobState::Failed(format!(
                        "{}: {}",
                        c.reason.clone().unwrap_or_default(),
                        c.message.clone().unwrap_or_default()
                    ))
                }
                _ => {}
            }
        }
    }
    JobState::Running(status.and_then(|s| s.succeeded).unwrap_or(0).max(0) as u32)
}

/// One generator pod's output.
#[derive(Debug, Clone)]
pub struct PodOutput {
    /// Its completion index.
    pub index: u32,
    /// The pod.
    pub pod: String,
    /// Its log: the JSON result `meshbench run --json` printed.
    pub log: String,
}

impl Cluster {
    /// Creates the load Job.
    pub async fn create_load_job(&self, plan: &LoadPlan) -> Result<String, Error> {
        let jobs: Api<Job> = Api::namespaced(self.client().clone(), &plan.namespace);
        let job = plan.job();
        self.bounded(
            ("create", "jobs", Some(&plan.namespace)),
            jobs.create(&PostParams::default(), &job),
        )
        .await?;
        Ok(plan.job_name())
    }

    /// Watches Job `name` for up to `wait` and says where it stands when the watch ends
    /// (the API server may end a watch at any time; the caller watches again).
    pub async fn watch_load_job(
        &self,
        namespace: &str,
        name: &str,
        wait: Duration,
    ) -> Result<JobState, Error> {
        let jobs: Api<Job> = Api::namespaced(self.client().clone(), namespace);
        let params = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(wait.as_secs().clamp(1, 290) as u32);
        let stream = self
            .bounded(("watch", "jobs", Some(namespace)), jobs.watch(&params, "0"))
            .await?;
        let mut stream = std::pin::pin!(stream);
        let mut state = None;
        // The watch is bounded by its own timeout; the outer bound guards a server that
        // keeps it open longer.
        let read = async {
            while let Some(event) = stream.next().await {
                match event {
                    Ok(WatchEvent::Added(job)) | Ok(WatchEvent::Modified(job)) => {
                        let now = state_of(&job);
                        let done = !matches!(now, JobState::Running(_));
                        state = Some(now);
                        if done {
                            break;
                        }
                    }
                    Ok(WatchEvent::Deleted(_)) => {
                        state = Some(JobState::Failed("the Job was deleted".into()));
                        break;
                    }
                    Ok(WatchEvent::Error(status)) => {
                        tracing::debug!(%name, "the watch of a load Job ended with {}", status.message);
                        break;
                    }
                    Ok(WatchEvent::Bookmark(_)) => {}
                    Err(e) => {
                        tracing::debug!(%name, "the watch of a load Job broke: {e}");
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(wait + Duration::from_secs(5), read).await;
        match state {
            Some(state) => Ok(state),
            // Nothing seen: read it directly (it may be gone).
            None => {
                let job = self
                    .bounded(("get", "jobs", Some(namespace)), jobs.get_opt(name))
                    .await?;
                Ok(job.map_or(JobState::Failed("the Job is gone".into()), |j| state_of(&j)))
            }
        }
    }

    /// The logs of a load Job's pods, by completion index.
    pub async fn load_job_logs(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<PodOutput>, Error> {
        let pods: Api<Pod> = Api::namespaced(self.client().clone(), namespace);
        let params = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}"));
        let listed = self
            .bounded(("list", "pods", Some(namespace)), pods.list(&params))
            .await?;
        let mut outputs = Vec::new();
        for pod in listed.items {
            let succeeded =
                pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded");
            if !succeeded {
                continue;
            }
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let index = pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(COMPLETION_INDEX))
                .and_then(|i| i.parse().ok())
                .unwrap_or(u32::MAX);
            let params = LogParams {
                container: Some("run".into()),
                ..LogParams::default()
            };
            let log = self
                .bounded(
                    ("get", "pods/log", Some(namespace)),
                    pods.logs(&pod_name, &params),
                )
                .await?;
            outputs.push(PodOutput {
                index,
                pod: pod_name,
                log,
            });
        }
        outputs.sort_by_key(|o| o.index);
        Ok(outputs)
    }

    /// Deletes a load Job and its pods.
    pub async fn delete_load_job(&self, namespace: &str, name: &str) -> Result<(), Error> {
        let jobs: Api<Job> = Api::namespaced(self.client().clone(), namespace);
        match self
            .bounded(
                ("delete", "jobs", Some(namespace)),
                jobs.delete(name, &DeleteParams::background()),
            )
            .await
        {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
