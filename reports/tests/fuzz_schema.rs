//! Fuzz target for results files (`isobench report`/`compare` read run.json and density.json
//! from anywhere): any text either loads as a record that saves and loads back as itself and
//! that every text renderer takes without a panic, or is refused in one line.
//! Runs for a bounded time under `cargo test`; under libFuzzer with `cargo bolero test` (README).
//! The corpus (`__fuzz__/`) starts from small real files: a process run, a density run.
use reports::RunRecord;

#[test]
fn any_text_loads_saves_back_and_renders_or_is_refused_in_one_line() {
    bolero::check!().for_each(|bytes: &[u8]| {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return;
        };
        match RunRecord::from_json("run.json", text) {
            Ok(record) => {
                let saved = reports::json::render(&record);
                let loaded =
                    RunRecord::from_json("saved.json", std::str::from_utf8(&saved).unwrap())
                        .unwrap_or_else(|e| panic!("saved record does not load: {e}"));
                assert_eq!(loaded, record, "saved and loaded back, the record changed");
                assert_eq!(reports::json::render(&loaded), saved);
                reports::terminal::render(&record);
                reports::markdown::render(&record);
                reports::phases::render(&record);
                reports::csv::render(&record).unwrap();
                reports::comparison::json::render(&record);
            }
            Err(error) => {
                let line = error.to_string();
                assert!(!line.contains('\n'), "{line:?}");
            }
        }
    });
}
