fn main() {
    println!("nodeherd: being built");
}
