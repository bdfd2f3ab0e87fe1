//! The `vigil` command line. (Scaffold.)

fn main() {
    println!("vigil {}", env!("CARGO_PKG_VERSION"));
}
