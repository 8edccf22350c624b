//! Compiles `proto/orders.proto` with protox (a protobuf compiler in Rust)
//! and generates the tonic client and server with tonic-prost-build: the
//! build needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["proto/orders.proto"], ["proto"])?;
    tonic_prost_build::configure()
        // `OrdersClient::new(channel)` only: no `connect` over tonic's own channel.
        .build_transport(false)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto/orders.proto");
    Ok(())
}
