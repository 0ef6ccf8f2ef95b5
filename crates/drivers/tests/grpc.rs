//! The gRPC driver against the built-in target's echo service (every call kind, delays,
//! statuses, bad input) and against a third-party server (Python's grpcio, installed by the
//! test command) described by a .proto file written here.
#![allow(clippy::unwrap_used)]

mod support;

use meshbench_core::{BenchmarkSpec, GrpcSpec, HttpVersion};
use meshbench_drivers::{run_spec, run_spec_with, GrpcDriver, H2Client};
use meshbench_engine::{RunOutput, StopHandle};
use meshbench_testkit::port::RefusingPort;
use serde_json::json;
use support::{Peer, Target};

fn spec(url: String, method: &str, data: Vec<serde_json::Value>) -> BenchmarkSpec {
    let mut spec = BenchmarkSpec::closed_get(url);
    spec.protocol = HttpVersion::Grpc;
    spec.connections = 2;
    spec.streams = 4;
    spec.duration_s = Some(1.0);
    spec.grpc = Some(GrpcSpec {
        call: format!("meshbench.echo.v1.Echo/{method}"),
        data,
        ..GrpcSpec::default()
    });
    spec
}

fn run(spec: &BenchmarkSpec) -> RunOutput {
    run_spec(spec, StopHandle::new(), &mut ()).unwrap()
}

/// Unary calls run on both HTTP/2 clients: the engine's event loop and hyper.
const CLIENTS: [(H2Client, &str); 2] = [(H2Client::Lean, "event-loop"), (H2Client::Hyper, "hyper")];

fn run_on(spec: &BenchmarkSpec, client: (H2Client, &str)) -> RunOutput {
    let out = run_spec_with(spec, client.0, StopHandle::new(), &mut ()).unwrap();
    assert_eq!(out.result.loadgen.client.as_deref(), Some(client.1));
    out
}

#[test]
fn unary_calls_multiplex_and_count_statuses() {
    let target = Target::start();
    for client in CLIENTS {
        let out = run_on(
            &spec(
                target.url("grpc", ""),
                "Unary",
                vec![json!({"payload": "aGVsbG8=", "message": "hi"})],
            ),
            client,
        );
        unary_calls_counted(&out);
    }
}

fn unary_calls_counted(out: &RunOutput) {
    let r = &out.result;
    assert!(r.requests > 100, "{} calls", r.requests);
    assert_eq!(r.errors, 0, "{:?}", r.error_kinds);
    assert!(r.status_codes.is_empty(), "{:?}", r.status_codes);
    let g = r.grpc.as_ref().unwrap();
    assert_eq!(g.kind, "unary");
    assert!(
        g.first_message_us.is_none(),
        "unary calls have no message stream"
    );
    assert_eq!(
        g.status_codes.get("OK"),
        Some(&r.requests),
        "{:?}",
        g.status_codes
    );
    assert_eq!(g.messages_sent, g.messages_received);
    // Messages count over the measured period, as requests do (give or take the calls in
    // flight at its edges: 2 connections × 4 streams).
    assert!(
        g.messages_received.abs_diff(r.requests) <= 8,
        "{} messages for {} calls",
        g.messages_received,
        r.requests
    );
}

#[test]
fn every_streaming_kind_counts_its_messages() {
    let target = Target::start();
    let three = vec![
        json!({"message": "a"}),
        json!({"message": "b"}),
        json!({"message": "c"}),
    ];
    for client in CLIENTS {
        let server = run_on(
            &spec(
                target.url("grpc", ""),
                "ServerStream",
                vec![json!({"responses": 5})],
            ),
            client,
        );
        let g = server.result.grpc.unwrap();
        assert_eq!(g.kind, "server_streaming");
        assert_eq!(
            g.messages_received,
            5 * g.messages_sent,
            "{}: {g:?}",
            client.1
        );
        // Each message's arrival is timed: the first against the call, the rest apart.
        let first = g.first_message_us.unwrap();
        let gaps = g.message_gap_us.unwrap();
        assert!(
            first.max > 0 && gaps.p50 < 10_000,
            "{}: {first:?} {gaps:?}",
            client.1
        );

        let calls = run_on(
            &spec(target.url("grpc", ""), "ClientStream", three.clone()),
            client,
        );
        let g = calls.result.grpc.unwrap();
        assert_eq!(g.kind, "client_streaming");
        assert_eq!(
            g.messages_sent,
            3 * g.messages_received,
            "{}: {g:?}",
            client.1
        );
    }

    for client in CLIENTS {
        let bidi = run_on(&spec(target.url("grpc", ""), "Bidi", three.clone()), client);
        let g = bidi.result.grpc.unwrap();
        assert_eq!(g.kind, "bidi_streaming");
        assert_eq!(g.messages_sent, g.messages_received, "{}: {g:?}", client.1);
        // Bidi is interactive: each message waits for its answer, and each round trip is
        // timed.
        assert!(g.message_rtt_us.is_some(), "{}: {g:?}", client.1);
        assert_eq!(bidi.result.errors, 0, "{}", client.1);
    }

    // A 2 ms answer per message: three round trips make a call of at least 6 ms.
    let slow = vec![json!({"delay_us": 2000}); 3];
    let mut s = spec(target.url("grpc", ""), "Bidi", slow);
    s.streams = 1;
    for client in CLIENTS {
        let out = run_on(&s, client);
        let rtt = out.result.grpc.unwrap().message_rtt_us.unwrap();
        assert!(
            (2_000..=4_000).contains(&rtt.p50),
            "{}: round trip p50 {} µs",
            client.1,
            rtt.p50
        );
        assert!(
            out.result.latency_us.p50 >= 6_000,
            "{}: call p50 {}",
            client.1,
            out.result.latency_us.p50
        );
    }
}

#[test]
fn a_server_delay_shows_in_the_call_latency() {
    let target = Target::start();
    let mut s = spec(
        target.url("grpc", ""),
        "Unary",
        vec![json!({"delay_us": 10000})],
    );
    s.streams = 1;
    for client in CLIENTS {
        let out = run_on(&s, client);
        let p50 = out.result.latency_us.p50;
        // The delay, counted once: a busy 2-core box adds a few ms (12.5 ms was seen with
        // the file's other tests beside it), never another 10.
        assert!(
            (10_000..=16_000).contains(&p50),
            "{}: p50 {p50} µs",
            client.1
        );
    }
}

#[test]
fn error_statuses_are_failures_counted_by_name() {
    let target = Target::start();
    let s = spec(target.url("grpc", ""), "Unary", vec![json!({"status": 14})]);
    for client in CLIENTS {
        let out = run_on(&s, client);
        let g = out.result.grpc.unwrap();
        // A status other than OK is a failed call (as ghz counts it), still counted by name.
        assert!(out.result.requests > 0);
        assert_eq!(out.result.errors, out.result.requests);
        assert_eq!(out.result.error_kinds["server_error"], out.result.requests);
        assert_eq!(g.status_codes.keys().collect::<Vec<_>>(), ["UNAVAILABLE"]);
    }
}

#[test]
fn bad_input_names_the_field() {
    let target = Target::start();
    let err = |s: &BenchmarkSpec| GrpcDriver::new(s).unwrap_err().to_string();

    let unknown = spec(target.url("grpc", ""), "Nope", vec![json!({})]);
    let text = err(&unknown);
    assert!(
        text.contains("call") && text.contains("has no method `Nope`"),
        "{text}"
    );

    let misfit = spec(
        target.url("grpc", ""),
        "Unary",
        vec![json!({"no_such_field": 1})],
    );
    let text = err(&misfit);
    assert!(
        text.contains("data") && text.contains("meshbench.echo.v1.EchoRequest"),
        "{text}"
    );

    let wrong_type = spec(
        target.url("grpc", ""),
        "Unary",
        vec![json!({"responses": "many"})],
    );
    assert!(err(&wrong_type).contains("data"));

    let dir = std::env::temp_dir().join(format!("meshbench-bad-proto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.proto");
    std::fs::write(&file, "syntax = \"proto3\";\nmessage {\n").unwrap();
    let mut broken = spec(target.url("grpc", ""), "Unary", vec![json!({})]);
    broken.grpc.as_mut().unwrap().proto = vec![file.display().to_string()];
    let text = err(&broken);
    assert!(
        text.contains("proto") && text.contains("broken.proto"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nothing_listening_or_not_grpc_is_a_clear_error() {
    let port = RefusingPort::new();
    let s = spec(
        format!("grpc://127.0.0.1:{}", port.port()),
        "Unary",
        vec![json!({})],
    );
    let text = run_spec(&s, StopHandle::new(), &mut ())
        .unwrap_err()
        .to_string();
    assert!(text.contains("connect_refused"), "{text}");
}

/// Python's grpcio serving a Greeter that echoes the raw request bytes (any message type
/// whose request and response are the same shape round-trips).
fn python_greeter() -> Peer {
    let script = "import grpc, time\n\
         from concurrent import futures\n\
         def echo(request, context):\n    return request\n\
         def fail(request, context):\n    context.abort(grpc.StatusCode.PERMISSION_DENIED, 'no')\n\
         handler = grpc.method_handlers_generic_handler('test.greet.v1.Greeter', {\n\
         \x20   'SayHello': grpc.unary_unary_rpc_method_handler(echo),\n\
         \x20   'Refuse': grpc.unary_unary_rpc_method_handler(fail),\n\
         \x20   'Chat': grpc.stream_stream_rpc_method_handler(lambda requests, context: (r for r in requests)),\n})\n\
         server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))\n\
         server.add_generic_rpc_handlers((handler,))\n\
         server.add_insecure_port('127.0.0.1:0')\n\
         server.start()\n\
         server.wait_for_termination()\n";
    Peer::python(script, "run `pip install grpcio` (scripts/test does)")
}

#[test]
fn a_third_party_server_python_grpcio_with_a_user_proto() {
    let peer = python_greeter();
    let dir = std::env::temp_dir().join(format!("meshbench-greeter-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("test/greet/v1")).unwrap();
    std::fs::write(
        dir.join("test/greet/v1/greeter.proto"),
        "syntax = \"proto3\";\npackage test.greet.v1;\nimport \"test/greet/v1/types.proto\";\n\
         service Greeter {\n  rpc SayHello(Hello) returns (Hello);\n  rpc Refuse(Hello) returns (Hello);\n  rpc Chat(stream Hello) returns (stream Hello);\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("test/greet/v1/types.proto"),
        "syntax = \"proto3\";\npackage test.greet.v1;\nmessage Hello {\n  string name = 1;\n  int32 times = 2;\n}\n",
    )
    .unwrap();
    let grpc_spec = |method: &str| GrpcSpec {
        call: format!("test.greet.v1.Greeter/{method}"),
        proto: vec![dir
            .join("test/greet/v1/greeter.proto")
            .display()
            .to_string()],
        import_paths: vec![dir.display().to_string()],
        data: vec![
            json!({"name": "mesh", "times": 3}),
            json!({"name": "bench"}),
        ],
        metadata: vec![("x-run".into(), "meshbench".into())],
    };
    let mut s = BenchmarkSpec::closed_get(format!("grpc://127.0.0.1:{}", peer.port));
    s.protocol = HttpVersion::Grpc;
    s.connections = 2;
    s.streams = 2;
    s.duration_s = Some(1.0);
    s.grpc = Some(grpc_spec("SayHello"));
    let out = run(&s);
    assert!(out.result.requests > 50, "{} calls", out.result.requests);
    assert_eq!(out.result.errors, 0, "{:?}", out.result.error_kinds);
    let g = out.result.grpc.unwrap();
    assert_eq!(g.status_codes.get("OK"), Some(&out.result.requests));

    s.grpc = Some(grpc_spec("Refuse"));
    let out = run(&s);
    let g = out.result.grpc.unwrap();
    assert_eq!(
        g.status_codes.keys().collect::<Vec<_>>(),
        ["PERMISSION_DENIED"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Python's grpcio with server reflection (grpcio-reflection), describing the Greeter from
/// descriptors the test compiles and hands over; the benchmark is given no .proto at all.
fn reflecting_greeter(descriptors: &[u8]) -> Peer {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(descriptors);
    let script = format!(
            "import base64, grpc\n\
             from concurrent import futures\n\
             from google.protobuf import descriptor_pb2, descriptor_pool\n\
             from grpc_reflection.v1alpha import reflection\n\
             fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode('{b64}'))\n\
             pool = descriptor_pool.Default()\n\
             for f in fds.file:\n    pool.AddSerializedFile(f.SerializeToString())\n\
             handler = grpc.method_handlers_generic_handler('test.greet.v1.Greeter', {{\n\
             \x20   'SayHello': grpc.unary_unary_rpc_method_handler(lambda request, context: request)}})\n\
             server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))\n\
             server.add_generic_rpc_handlers((handler,))\n\
             reflection.enable_server_reflection(['test.greet.v1.Greeter', reflection.SERVICE_NAME], server)\n\
             server.add_insecure_port('127.0.0.1:0')\n\
             server.start()\n\
             server.wait_for_termination()\n"
        );
    Peer::python(
        &script,
        "run `pip install grpcio-reflection` (scripts/test does)",
    )
}

#[test]
fn server_reflection_describes_a_service_without_a_proto() {
    use prost::Message as _;
    let dir = std::env::temp_dir().join(format!("meshbench-reflect-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("test/greet/v1")).unwrap();
    std::fs::write(
        dir.join("test/greet/v1/greeter.proto"),
        "syntax = \"proto3\";\npackage test.greet.v1;\nimport \"test/greet/v1/types.proto\";\n\
         service Greeter {\n  rpc SayHello(Hello) returns (Hello);\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("test/greet/v1/types.proto"),
        "syntax = \"proto3\";\npackage test.greet.v1;\nmessage Hello {\n  string name = 1;\n}\n",
    )
    .unwrap();
    let set = protox::compile([dir.join("test/greet/v1/greeter.proto")], [&dir]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let peer = reflecting_greeter(&set.encode_to_vec());

    let mut s = BenchmarkSpec::closed_get(format!("grpc://127.0.0.1:{}", peer.port));
    s.protocol = HttpVersion::Grpc;
    s.connections = 1;
    s.streams = 2;
    s.duration_s = Some(1.0);
    s.grpc = Some(GrpcSpec {
        call: "test.greet.v1.Greeter/SayHello".into(),
        data: vec![json!({"name": "reflected"})],
        ..GrpcSpec::default()
    });
    let out = run(&s);
    assert_eq!(out.result.errors, 0, "{:?}", out.result.error_kinds);
    let g = out.result.grpc.unwrap();
    assert_eq!(g.status_codes.get("OK"), Some(&out.result.requests));

    // A message that does not fit the reflected type is refused by name.
    s.grpc.as_mut().unwrap().data = vec![json!({"nom": 1})];
    let text = GrpcDriver::new(&s).unwrap_err().to_string();
    assert!(text.contains("does not fit test.greet.v1.Hello"), "{text}");

    // A service the server does not have: reflection says so, and the error says what to do.
    s.grpc.as_mut().unwrap().call = "test.greet.v1.Nobody/Hi".into();
    let text = GrpcDriver::new(&s).unwrap_err().to_string();
    assert!(text.contains("give --proto"), "{text}");
}
