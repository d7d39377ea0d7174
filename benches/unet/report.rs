//! Printing the results: the markdown table, the per-op-kind shares, and machine facts.

/// One row of the table.
pub struct Row {
    pub model: &'static str,
    pub params: usize,
    pub batch: usize,
    pub gflop: f64,
    pub forward_ms: Vec<f64>,
    pub step_ms: Vec<f64>,
    pub torch_ms: Option<Vec<f64>>,
}

/// Time per op kind of one forward pass, from running only that kind's dispatches.
pub struct Share {
    pub kind: String,
    pub dispatches: usize,
    pub gflop: Option<f64>,
    pub ms: f64,
}

/// The table of one executor: `ours` names its columns (`ours`, `CPU`), `torch` the PyTorch
/// column (`torch`, `torch 1-thread`).
pub fn print_table(rows: &[Row], ours: &str, torch: &str) {
    println!(
        "| model | params | GFLOP/forward | batch | {ours} ms/forward | {ours} GFLOP/s | \
         ms/sampling step | {torch} ms/forward | {ours}/torch |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let fwd = median(&r.forward_ms);
        let (torch, ratio) = match &r.torch_ms {
            Some(t) => (
                format!("{} ({})", fmt_ms(median(t)), t.len()),
                fmt_ratio(fwd / median(t)),
            ),
            None => ("—".to_string(), "—".to_string()),
        };
        println!(
            "| {} | {:.2} M | {:.2} | {} | {} ({}) | {:.2} | {} ({}) | {} | {} |",
            r.model,
            r.params as f64 / 1e6,
            r.gflop,
            r.batch,
            fmt_ms(fwd),
            r.forward_ms.len(),
            r.gflop / fwd * 1e3,
            fmt_ms(median(&r.step_ms)),
            r.step_ms.len(),
            torch,
            ratio
        );
    }
}

pub fn print_shares(shares: &[(&str, usize, Vec<Share>)]) {
    for (model, batch, list) in shares {
        let total: f64 = list.iter().map(|s| s.ms).sum();
        println!(
            "\nTime per op kind, {model} batch {batch} (each kind's dispatches run alone; \
             sum {} ms):\n",
            fmt_ms(total)
        );
        println!("| op kind | dispatches | GFLOP | ms | share | GFLOP/s |");
        println!("|---|---:|---:|---:|---:|---:|");
        for s in list {
            let (gflop, rate) = match s.gflop {
                Some(g) => (format!("{g:.3}"), format!("{:.2}", g / s.ms * 1e3)),
                None => ("—".into(), "—".into()),
            };
            println!(
                "| {} | {} | {gflop} | {} | {:.1}% | {rate} |",
                s.kind,
                s.dispatches,
                fmt_ms(s.ms),
                100.0 * s.ms / total
            );
        }
    }
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[mid],
        _ => (s[mid - 1] + s[mid]) / 2.0,
    }
}

/// `0.45x`, `1.30x`, `12.0x`: two decimals where they matter (targets like 2x, 0.5x).
pub fn fmt_ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.2}x")
    } else {
        format!("{r:.1}x")
    }
}

pub fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_string)
}

pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

pub fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The current UTC date and time, `YYYY-MM-DD HH:MM UTC` (days to civil date after
/// Howard Hinnant's `civil_from_days`).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}
