use std::time::Duration;

use super::Topology;

#[test]
fn edges_count_requests_and_errors_per_pair() {
    let topology = Topology::new();
    let a_b = topology.edge("a", "b");
    for _ in 0..3 {
        a_b.record(Duration::from_millis(2), false);
    }
    topology
        .edge("a", "b")
        .record(Duration::from_millis(8), true);
    topology
        .edge("b", "c")
        .record(Duration::from_micros(10), false);
    let edges = topology.edges();
    assert_eq!(edges.len(), 2);
    assert_eq!(
        (edges[0].caller.as_str(), edges[0].callee.as_str()),
        ("a", "b")
    );
    assert_eq!((edges[0].requests, edges[0].errors), (4, 1));
    assert!(
        edges[0].p50_us >= 2_000 && edges[0].p50_us <= 2_560,
        "{:?}",
        edges[0]
    );
    assert!(edges[0].p99_us >= 8_000, "{:?}", edges[0]);
    assert_eq!((edges[1].requests, edges[1].errors), (1, 0));
}

#[test]
fn json_and_dot_render_every_edge() {
    let topology = Topology::new();
    topology
        .edge("a", "b")
        .record(Duration::from_millis(1), false);
    topology
        .edge("we\"ird", "b")
        .record(Duration::from_millis(1), true);
    let json: serde_json::Value = serde_json::from_str(&topology.to_json()).unwrap();
    assert_eq!(json[0]["caller"], "a");
    assert_eq!(json[0]["requests"], 1);
    assert_eq!(json[1]["errors"], 1);
    let dot = topology.to_dot();
    assert!(dot.starts_with("digraph sae {"), "{dot}");
    assert!(
        dot.contains("\"a\" -> \"b\" [label=\"1 req, 0 err"),
        "{dot}"
    );
    assert!(dot.contains("\"we\\\"ird\" -> \"b\""), "{dot}");
}

#[test]
fn an_empty_topology_renders_empty() {
    let topology = Topology::new();
    assert_eq!(topology.to_json(), "[]");
    assert_eq!(topology.to_dot(), "digraph sae {\n  rankdir=LR;\n}\n");
}
