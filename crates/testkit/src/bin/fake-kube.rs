//! `fake-kube --cluster istio-sidecar --cluster linkerd --kubeconfig PATH`: the test kit's
//! fake Kubernetes API server as a process, for tests outside Rust (the dashboard's browser
//! tests). Serves the named fixture clusters, layered, writes a kubeconfig that reaches it,
//! prints `fake-kube: http://127.0.0.1:PORT`, and runs until killed.

use std::path::PathBuf;

use meshbench_testkit::kube::{FakeKube, TOKEN};

fn main() {
    let mut clusters = Vec::new();
    let mut kubeconfig: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--cluster", Some(name)) => clusters.push(name),
            ("--kubeconfig", Some(path)) => kubeconfig = Some(PathBuf::from(path)),
            _ => {
                eprintln!("usage: fake-kube --cluster NAME [--cluster NAME…] --kubeconfig PATH");
                std::process::exit(2);
            }
        }
    }
    let Some(kubeconfig) = kubeconfig else {
        eprintln!("fake-kube: --kubeconfig PATH is required");
        std::process::exit(2);
    };
    let names: Vec<&str> = clusters.iter().map(String::as_str).collect();
    let fake = FakeKube::start(&names);
    fake.write_kubeconfig(&kubeconfig, TOKEN);
    println!("fake-kube: {}", fake.url());
    // Until killed: the parent (a test script) ends it with a signal.
    loop {
        std::thread::park();
    }
}
