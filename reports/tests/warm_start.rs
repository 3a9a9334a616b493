//! Warm starts (a VM restored from a snapshot) sit in the table beside the cold rows but are
//! no VMs of a comparison tier: the tiers set containers against VMs that boot.
mod common;

use common::{vm_row, with_vms};
use reports::comparison::{compare, Tier};
use reports::schema::{GuestKind, RunRecord};

#[test]
fn a_restored_vm_is_left_out_of_its_tier() {
    let record = with_vms(5, |r| {
        let mut warm = vm_row(
            r,
            "microvm-restore",
            GuestKind::Bare,
            &["software-kvm"],
            1.0,
        );
        warm.warm_start = true;
        vec![
            vm_row(r, "microvm", GuestKind::Bare, &["software-kvm"], 3.0),
            warm,
        ]
    });
    let comparison = compare(&record);
    let group = comparison.tier(Tier::Floor).vms.as_ref().expect("bare VMs");
    assert_eq!(group.names, ["microvm"], "the cold row only");
    let text = reports::terminal::render(&record);
    assert!(text.contains("microvm-restore"), "still a row of the table");
    // Its ratio to the cold row of the same run, in the terminal and Markdown reports.
    let line = reports::warm_start::ratio_line(&record).expect("a warm row");
    assert!(line.contains("microvm-restore "), "{line}");
    assert!(line.contains("× microvm ("), "{line}");
    let ratio = record
        .isolator("microvm-restore")
        .unwrap()
        .summary
        .as_ref()
        .unwrap()
        .startup_ns
        .median
        / record
            .isolator("microvm")
            .unwrap()
            .summary
            .as_ref()
            .unwrap()
            .startup_ns
            .median;
    assert!(line.contains(&format!("{ratio:.2}×")), "{ratio} in {line}");
    assert!(text.contains(&line), "{text}");
    assert!(reports::markdown::render(&record).contains("× microvm ("));

    // The field is in the JSON only when true, and reads back.
    let json = serde_json::to_value(&record).unwrap();
    let rows = json["isolators"].as_array().unwrap();
    let field = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .map(|r| r.get("warm_start").cloned())
            .unwrap()
    };
    assert_eq!(field("microvm-restore"), Some(serde_json::json!(true)));
    assert_eq!(field("microvm"), None);
    let back: RunRecord = serde_json::from_value(json).unwrap();
    assert!(back.isolator("microvm-restore").unwrap().warm_start);
}
