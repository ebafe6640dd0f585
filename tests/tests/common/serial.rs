//! The kernels' serial output: `RESULT` lines of `key=value` fields, and markers.

/// The `key=value` fields of the first line starting with `prefix`.
pub(crate) fn fields<'a>(output: &'a str, prefix: &str) -> Vec<(&'a str, &'a str)> {
    let line = output
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in the serial output"));
    line.split_whitespace().filter_map(|word| word.split_once('=')).collect()
}

pub(crate) fn get<'a>(fields: &[(&'a str, &'a str)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no field {key} in {fields:?}"))
}

pub(crate) fn number(fields: &[(&str, &str)], key: &str) -> u64 {
    let value = get(fields, key);
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("field {key}={value}: {e}"))
}

/// Position of the first line containing `marker`.
pub(crate) fn position(output: &str, marker: &str) -> usize {
    output
        .find(marker)
        .unwrap_or_else(|| panic!("marker {marker:?} missing from the serial output"))
}
