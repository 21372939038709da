//! Regenerates `src/transport/grpc/proto.rs` from `proto/inference.proto`.
//! Run `bash proto/generate.sh` from the repository root (needs `protoc`).

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = tempdir();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .out_dir(&out)
        .compile_protos(
            &[root.join("proto/inference.proto")],
            &[root.join("proto")],
        )
        .expect("protoc compiles proto/inference.proto");
    let generated = std::fs::read_to_string(out.join("inference.rs")).expect("generated code");
    let header = "//! Generated from `proto/inference.proto` by `proto/generate.sh`; do not edit.\n\n";
    std::fs::write(
        root.join("src/transport/grpc/proto.rs"),
        format!("{header}{generated}"),
    )
    .expect("write src/transport/grpc/proto.rs");
    let _ = std::fs::remove_dir_all(&out);
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("modelhost-proto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
