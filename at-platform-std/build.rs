//! Records the build date, time and source hash for `AT+GMR`.

fn main() {
    at_build_info::emit("AT");
}
