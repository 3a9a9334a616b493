//! A record with more samples than its renderers get ([`reports::samples`]): the charts and the
//! page say they draw a subset, run.json and run.csv still hold every sample; at the bound
//! nothing changes.
mod common;

use reports::samples::Kept;
use reports::RunRecord;

fn page(record: &RunRecord) -> String {
    reports::html::render(record, &reports::charts::all(record).unwrap(), &[])
}

fn csv_rows(record: &RunRecord, source: &dyn reports::samples::SampleSource) -> usize {
    let mut csv = Vec::new();
    reports::csv::write_from(&mut csv, record, source).unwrap();
    csv.iter().filter(|&&b| b == b'\n').count()
}

#[test]
fn at_the_bound_the_renderers_get_every_sample_and_say_nothing() {
    let record = common::record(30, false);
    let mut bounded = record.clone();
    let every_sample = Kept::take_from(&mut bounded, 30);
    assert_eq!(bounded, record);
    assert_eq!(page(&bounded), page(&record));
    assert!(!page(&record).contains("subset"));
    let mut json = Vec::new();
    reports::json::write_from(&mut json, &bounded, &every_sample).unwrap();
    assert_eq!(json, reports::json(&record));
}

#[test]
fn beyond_the_bound_the_charts_draw_a_spread_subset_and_say_so() {
    let record = common::record(30, false);
    let mut bounded = record.clone();
    let every_sample = Kept::take_from(&mut bounded, 12);
    let process = bounded.isolator("process").unwrap();
    assert_eq!(process.samples.len(), 12);
    assert_eq!(process.sample_count(), 30, "the count is the summary's");
    let trials: Vec<u32> = process.samples.iter().map(|s| s.trial).collect();
    assert_eq!(&trials[..4], [0, 3, 5, 8], "evenly spread from the first");
    let html = page(&bounded);
    assert!(
        html.contains("The charts draw a subset of the samples")
            && html.contains("process: 12 of 30"),
        "the page says how many the charts draw"
    );
    assert!(
        html.contains(">30<") || html.contains("30</td>"),
        "the table counts every sample"
    );

    let mut json = Vec::new();
    reports::json::write_from(&mut json, &bounded, &every_sample).unwrap();
    assert_eq!(json, reports::json(&record), "run.json holds every sample");
    assert_eq!(
        csv_rows(&bounded, &every_sample),
        csv_rows(&record, &reports::samples::Inline)
    );
}
