//! What a benchmark run measured, written to `target/bench/report.json` and
//! `target/bench/report.md` with a description of the machine it ran on.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Value, json};

/// One figure. Compared figures are ratios measured in the same run, with their target.
#[derive(Debug, Clone)]
pub struct Metric {
    pub bench: &'static str,
    /// `SQLite` or `PostgreSQL` where storage matters.
    pub backend: Option<String>,
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub target: Option<Target>,
}

/// A target a figure is held to: `value >= bound`, `<=` or `==`.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    relation: Relation,
    bound: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    AtLeast,
    AtMost,
    Exactly,
}

impl Target {
    pub fn at_least(bound: f64) -> Self {
        Target {
            relation: Relation::AtLeast,
            bound,
        }
    }

    pub fn at_most(bound: f64) -> Self {
        Target {
            relation: Relation::AtMost,
            bound,
        }
    }

    /// For counts, which are whole numbers: a figure that must be `bound` itself.
    pub fn exactly(bound: f64) -> Self {
        Target {
            relation: Relation::Exactly,
            bound,
        }
    }

    pub fn met(self, value: f64) -> bool {
        match self.relation {
            Relation::AtLeast => value >= self.bound,
            Relation::AtMost => value <= self.bound,
            Relation::Exactly => (value - self.bound).abs() < 1e-9,
        }
    }

    fn text(self) -> String {
        let relation = match self.relation {
            Relation::AtLeast => "≥",
            Relation::AtMost => "≤",
            Relation::Exactly => "=",
        };
        format!("{relation} {}", self.bound)
    }
}

impl Metric {
    pub fn new(
        bench: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Self {
        Metric {
            bench,
            backend: None,
            name: name.into(),
            value,
            unit,
            target: None,
        }
    }

    pub fn on(mut self, backend: &str) -> Self {
        self.backend = Some(backend.to_owned());
        self
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    fn json(&self) -> Value {
        json!({
            "bench": self.bench,
            "backend": self.backend,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": self.target.map(Target::text),
            "met": self.target.map(|target| target.met(self.value)),
        })
    }
}

/// The machine, as the report states it: CPU model and count, memory, kernel.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map_or("unknown", |(_, model)| model.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find(|line| line.starts_with("MemTotal:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map(|kib| (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    json!({
        "cpu": model,
        "cpus": std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        "memory_gib": memory_gib,
        "kernel": kernel,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

/// Writes the report's two files into `folder`, and returns the Markdown.
pub fn write(folder: &Path, quick: bool, metrics: &[Metric]) -> anyhow::Result<String> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let machine = machine();
    let at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let document = json!({
        "at": at,
        "quick": quick,
        "machine": machine,
        "metrics": metrics.iter().map(Metric::json).collect::<Vec<_>>(),
    });
    std::fs::write(
        folder.join("report.json"),
        serde_json::to_string_pretty(&document)?,
    )?;
    let mut markdown = String::new();
    writeln!(
        markdown,
        "Run {at}{}, {} build, on {} ({} CPUs, {} GiB, Linux {}).\n",
        if quick { " (--quick: small sizes)" } else { "" },
        machine["profile"].as_str().unwrap_or_default(),
        machine["cpu"].as_str().unwrap_or_default(),
        machine["cpus"],
        machine["memory_gib"],
        machine["kernel"].as_str().unwrap_or_default()
    )?;
    writeln!(
        markdown,
        "| Benchmark | Backend | Figure | Value | Target | Met |"
    )?;
    writeln!(markdown, "|---|---|---|---:|---|---|")?;
    for metric in metrics {
        let value = if metric.value.abs() >= 100.0 || metric.value.fract() == 0.0 {
            format!("{:.0}", metric.value)
        } else {
            format!("{:.3}", metric.value)
        };
        writeln!(
            markdown,
            "| {} | {} | {} | {} {} | {} | {} |",
            metric.bench,
            metric.backend.as_deref().unwrap_or("—"),
            metric.name,
            value,
            metric.unit,
            metric.target.map(Target::text).unwrap_or_default(),
            match metric.target.map(|target| target.met(metric.value)) {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            }
        )?;
    }
    std::fs::write(folder.join("report.md"), &markdown)?;
    Ok(markdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_hold_in_their_direction() {
        assert!(Target::at_least(0.95).met(0.95));
        assert!(!Target::at_least(0.95).met(0.9));
        assert!(Target::at_most(1.5).met(1.2));
        assert!(!Target::at_most(1.5).met(1.6));
        assert!(Target::exactly(0.0).met(0.0));
        assert!(!Target::exactly(0.0).met(-1.0));
        assert!(!Target::exactly(0.0).met(1.0));
    }
}
