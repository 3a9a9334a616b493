//! What the probe reported on its ready line (`work_ns`, `mode`, …), per sample: a JSON object
//! of strings, kept in memory as a short sorted list. A `BTreeMap<String, String>` node took
//! ~540 bytes for the probe's four words, most of a sample's memory in a long run.
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `key=value` words, sorted by key, each key once (a later duplicate wins, as in a map).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport(Vec<(Box<str>, Box<str>)>);

impl ProbeReport {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.0[i].1.as_ref())
    }

    /// Sets `key` to `value`, replacing what it had.
    pub fn insert(&mut self, key: &str, value: &str) {
        match self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key)) {
            Ok(i) => self.0[i].1 = value.into(),
            Err(i) => self.0.insert(i, (key.into(), value.into())),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ProbeReport {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(words: I) -> ProbeReport {
        let mut report = ProbeReport::default();
        for (key, value) in words {
            report.insert(key.as_ref(), value.as_ref());
        }
        report.0.shrink_to_fit();
        report
    }
}

impl From<BTreeMap<String, String>> for ProbeReport {
    fn from(map: BTreeMap<String, String>) -> ProbeReport {
        map.into_iter().collect()
    }
}

impl Serialize for ProbeReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ProbeReport {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ProbeReport, D::Error> {
        struct Words;
        impl<'de> Visitor<'de> for Words {
            type Value = ProbeReport;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProbeReport, A::Error> {
                let mut words = Vec::new();
                while let Some(entry) = map.next_entry::<String, String>()? {
                    words.push(entry);
                }
                Ok(words.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_same_json_as_a_map() {
        let text = r#"{"work_ns":"120","mode":"noop","checksum":"0","mode":"cpu"}"#;
        let report: ProbeReport = serde_json::from_str(text).unwrap();
        let map: BTreeMap<String, String> = serde_json::from_str(text).unwrap();
        assert_eq!(report, ProbeReport::from(map.clone()));
        assert_eq!(report.get("mode"), Some("cpu"), "the later duplicate wins");
        assert_eq!(report.get("held_bytes"), None);
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
    }
}
