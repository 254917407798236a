//! Processes under measurement: pinning to a CPU and reading the CPU time they used.

/// Pins the calling thread to one CPU, when the machine has it.
pub fn pin_to_cpu(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity get valid pointers.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Pins the load generator (the calling thread) to CPU 1, away from the server under test on
/// CPU 0. On a one-CPU machine it says that the two share it, so the table is read that way.
pub fn pin_load_generator() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        pin_to_cpu(1);
    } else {
        println!("note: one CPU only, so server and load generator share it");
    }
}

/// CPU time used so far by every thread of process `pid`, from `/proc/<pid>/task/*/schedstat`
/// (nanoseconds, exact rather than in clock ticks).
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    process_cpu_and_runs(pid).map(|(cpu_ns, _)| cpu_ns)
}

/// [`process_cpu_ns`] and how many times the threads of `pid` have been put on a CPU so far
/// (each wake-up from a sleep counts once): both from `/proc/<pid>/task/*/schedstat`.
pub fn process_cpu_and_runs(pid: u32) -> Option<(u64, u64)> {
    let (mut cpu_ns, mut runs) = (0, 0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        let fields: Vec<u64> = stat
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        cpu_ns += fields.first()?;
        runs += fields.get(2)?;
    }
    Some((cpu_ns, runs))
}

/// Lets the calling thread run on every CPU again (children inherit a parent's pinning).
pub fn unpin() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: as in `pin_to_cpu`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Prints the address a server under test listens on: the driver reads it from the first line
/// of the server's output.
pub fn announce(addr: std::net::SocketAddr) {
    use std::io::Write;
    println!("{addr}");
    let _ = std::io::stdout().flush();
}

/// The `main` of a server-under-test binary, `PROGRAM CONTENDER ADDR [CPU]`: pins itself to
/// `CPU` when given, then serves with `serve` until killed. The echo and chat servers are
/// started by their drivers with the same arguments, so they share this.
///
/// # Errors
///
/// What `serve` returns.
pub fn server_main(serve: fn(&str, &str) -> std::io::Result<()>) -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let contender = args.get(1).map(String::as_str).unwrap_or("greenhub");
    let addr = args.get(2).map(String::as_str).unwrap_or("127.0.0.1:0");
    if let Some(cpu) = args.get(3).and_then(|c| c.parse().ok()) {
        pin_to_cpu(cpu);
    }
    serve(contender, addr)
}

/// The error a server's `serve` returns for a contender name it does not know.
pub fn unknown_contender(name: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("unknown contender {name}"),
    )
}

/// The median of some measurements (the upper one of the middle two for an even count).
///
/// # Panics
///
/// When `values` is empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Starts a server under test whose first line of output is the address it listens on (see
/// [`announce`]), and returns it with that line. The rest of its output is drained in the
/// background, so the server never writes into a closed pipe.
///
/// # Errors
///
/// When the server cannot start or exits before printing a line.
pub fn start_announced(
    mut command: std::process::Command,
) -> std::io::Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let mut server = command.stdout(std::process::Stdio::piped()).spawn()?;
    let mut output = std::io::BufReader::new(server.stdout.take().expect("piped"));
    let mut first_line = String::new();
    if output.read_line(&mut first_line)? == 0 {
        return Err(std::io::Error::other(
            "the server exited before printing its address",
        ));
    }
    std::thread::spawn(move || std::io::copy(&mut output, &mut std::io::sink()));
    Ok((server, first_line.trim().to_string()))
}
