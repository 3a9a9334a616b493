//! The progress bar on stderr (hidden when stderr is not a terminal).
use indicatif::{ProgressBar, ProgressStyle};

use isobench::runner::Progress;

pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} trials  {msg}",
            )
            .expect("the progress template is valid"),
        );
        Bar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, total_trials: u64) {
        self.0.set_length(total_trials);
    }
    fn trial(&self, isolator: &str, outcome: Result<u64, &str>) {
        self.0.inc(1);
        match outcome {
            Ok(startup_ns) => self
                .0
                .set_message(format!("{isolator}: {:.2} ms", startup_ns as f64 / 1e6)),
            Err(message) => self
                .0
                .println(format!("{isolator}: trial failed: {message}")),
        }
    }
    fn note(&self, message: &str) {
        self.0.println(message);
    }
    fn probe_stderr(&self, isolator: &str, line: &str) {
        let line = format!("probe ({isolator}): {line}");
        // Where the bar is hidden (stderr not a terminal) its println prints nothing; the
        // probe's words went to stderr before they were labelled, and still do.
        if self.0.is_hidden() {
            eprintln!("{line}");
        } else {
            self.0.println(line);
        }
    }
    fn host_cost_start(&self, batches: u64) {
        self.0.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} host-cost batches  {msg}",
            )
            .expect("the progress template is valid"),
        );
        self.0.set_position(0);
        self.0.set_length(batches);
    }
    fn host_cost_batch(&self, isolator: &str, instances: u32) {
        // The position counts batches started: the one now held is shown as under way.
        self.0.inc(1);
        self.0
            .set_message(format!("{isolator}: holding {instances} at once"));
    }
    fn skip(&self, trials: u64) {
        let length = self.0.length().unwrap_or(0);
        self.0.set_length(length.saturating_sub(trials));
    }
}
