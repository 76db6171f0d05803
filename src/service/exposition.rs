//! The Prometheus text exposition format (version 0.0.4): `# HELP` and
//! `# TYPE` before each metric's samples, label values escaped.

use std::fmt::Write as _;

/// The content type of the format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The labels of a sample: `(name, value)` pairs.
pub(crate) type Labels<'a> = &'a [(&'a str, &'a str)];

/// One sample of a counter or a gauge.
pub(crate) type Sample<'a> = (Labels<'a>, f64);

/// One series of a histogram: its labels, the counts of its buckets (not
/// cumulative), and the sum of the observations.
pub(crate) type Series<'a> = (Labels<'a>, &'a [u64], f64);

/// A page being written.
#[derive(Default)]
pub(crate) struct Exposition {
    out: String,
}

/// A label value, escaped (`\`, `"` and newlines).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels(l: &[(&str, &str)]) -> String {
    if l.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", inner.join(","))
}

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn samples(&mut self, name: &str, samples: &[Sample<'_>]) {
        for (l, v) in samples {
            let _ = writeln!(self.out, "{name}{} {v}", labels(l));
        }
    }

    /// A counter (its name ends in `_total`), one sample per label set.
    pub(crate) fn counter(&mut self, name: &str, help: &str, samples: &[Sample<'_>]) {
        self.header(name, "counter", help);
        self.samples(name, samples);
    }

    /// A gauge, one sample per label set.
    pub(crate) fn gauge(&mut self, name: &str, help: &str, samples: &[Sample<'_>]) {
        self.header(name, "gauge", help);
        self.samples(name, samples);
    }

    /// A histogram: for each label set, the counts of its buckets (not
    /// cumulative, one per bound of `bounds`, then one above the last),
    /// the sum of the observations and their count.
    pub(crate) fn histogram(&mut self, name: &str, help: &str, bounds: &[f64], series: &[Series<'_>]) {
        self.header(name, "histogram", help);
        for (l, counts, sum) in series {
            let mut cumulative = 0;
            for (i, c) in counts.iter().enumerate() {
                cumulative += c;
                let le = bounds.get(i).map_or("+Inf".to_string(), |b| b.to_string());
                let mut with_le: Vec<(&str, &str)> = l.to_vec();
                with_le.push(("le", &le));
                let _ = writeln!(self.out, "{name}_bucket{} {cumulative}", labels(&with_le));
            }
            let _ = writeln!(self.out, "{name}_sum{} {sum}", labels(l));
            let _ = writeln!(self.out, "{name}_count{} {cumulative}", labels(l));
        }
    }

    /// The page.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_written_as_the_text_format_says() {
        let mut e = Exposition::default();
        e.counter("x_total", "Things.", &[(&[("cause", "a\"b")], 3.0)]);
        e.gauge("y", "Now.", &[(&[], 1.5)]);
        e.histogram("d_seconds", "Durations.", &[0.1, 1.0], &[(&[("direction", "in")], &[1, 0, 2], 7.25)]);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{cause=\"a\\\"b\"} 3\n\
             # HELP y Now.\n# TYPE y gauge\ny 1.5\n\
             # HELP d_seconds Durations.\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{direction=\"in\",le=\"0.1\"} 1\nd_seconds_bucket{direction=\"in\",le=\"1\"} 1\n\
             d_seconds_bucket{direction=\"in\",le=\"+Inf\"} 3\nd_seconds_sum{direction=\"in\"} 7.25\n\
             d_seconds_count{direction=\"in\"} 3\n"
        );
    }
}
