//! Serde for maps of bytes as base64 text (photos, file content).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn serialize<S, T>(map: &HashMap<String, T>, s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: AsRef<[u8]>,
{
    s.collect_map(map.iter().map(|(k, v)| (k, STANDARD.encode(v.as_ref()))))
}

pub(crate) fn deserialize<'de, D, T>(d: D) -> Result<HashMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<Vec<u8>>,
{
    let encoded = HashMap::<String, String>::deserialize(d)?;
    encoded
        .into_iter()
        .map(|(k, v)| {
            STANDARD
                .decode(v.as_bytes())
                .map(|bytes| (k.clone(), T::from(bytes)))
                .map_err(|_| D::Error::custom(format!("the content of `{k}` is not base64")))
        })
        .collect()
}
