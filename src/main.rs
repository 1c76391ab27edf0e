fn main() -> std::process::ExitCode {
    patchdeck::cli::main()
}
