//! Instruction counting for the in-process benches.
//!
//! Wall-clock figures move by ±30 % on a shared machine; instruction counts
//! do not. With `SAE_BENCH_ITERATIONS=<n>` a bench binary skips criterion
//! and runs each variant named on its command line exactly `n` times, so
//! under callgrind `(Ir(3000) − Ir(1000)) / 2000` is the cost of one request:
//!
//! ```sh
//! SAE_BENCH_ITERATIONS=1000 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/server_stack-<hash> sae_stack
//! ```

/// One request of a variant.
pub type Run = Box<dyn FnMut()>;

/// A named variant.
pub type Variant = (&'static str, Run);

/// The bench's `main`: criterion's `benches` group, or, when
/// `SAE_BENCH_ITERATIONS` is set, `n` runs of each variant named on the
/// command line, built by the function `setup` returns (set up once; it owns
/// whatever must outlive the runs, e.g. a meter provider).
pub fn main<Find>(benches: fn(), setup: impl FnOnce() -> Find)
where
    Find: FnMut(&str) -> Option<Run>,
{
    let Ok(iterations) = std::env::var("SAE_BENCH_ITERATIONS") else {
        benches();
        criterion::Criterion::default()
            .configure_from_args()
            .final_summary();
        return;
    };
    let iterations: u64 = iterations
        .parse()
        .expect("SAE_BENCH_ITERATIONS is a number");
    let mut find = setup();
    for name in std::env::args().skip(1).filter(|arg| !arg.starts_with('-')) {
        let mut run = find(&name).unwrap_or_else(|| panic!("no variant {name}"));
        for _ in 0..iterations {
            run();
        }
    }
}

/// Finds variants by name in `variants`, keeping `guard` alive as long.
pub fn by_name<Guard: 'static>(
    mut variants: Vec<Variant>,
    guard: Guard,
) -> impl FnMut(&str) -> Option<Run> {
    move |name| {
        let _keep = &guard;
        let at = variants.iter().position(|(known, _)| *known == name)?;
        Some(variants.swap_remove(at).1)
    }
}
