//! Structural mutations of a valid JSON document: what a person editing a
//! definition file by hand, or a tampered stored value, looks like.
//!
//! A mutation picks a node of the document (any object field or array
//! item, or the root) and removes it, replaces it with a hostile value,
//! changes its type, duplicates it, puts a copy of another node of the same
//! document there (a valid subtree in the wrong place), adds a field, or
//! buries it under deep nesting. Several mutations apply in turn; proptest
//! shrinks a failure to the fewest that still fail.
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! use serde_json::json;
//!
//! let seed = json!({"id": "x", "methods": [{"id": "m", "path": "/a"}]});
//! let mut runner = TestRunner::deterministic();
//! let tree = switchboard_hostile::mutate::mutated(seed, &["id", "path"], 3).new_tree(&mut runner).unwrap();
//! let _changed: serde_json::Value = tree.current();
//! ```

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::json::any_value;
use crate::text::{long_text, short_text};

/// One change at one node of a document.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Remove the node (an object field, an array item; the root becomes `null`).
    Remove,
    /// Put this value there.
    Replace(Value),
    /// Change the node's type, keeping its content where it can
    /// (`"3"` ↔ `3`, object → array of its values, array → object...).
    Retype,
    /// Repeat the node (array item twice; an object field's value wrapped
    /// in an array of two).
    Duplicate,
    /// Copy the node found at this pick (modulo the node count) here.
    Borrow(u32),
    /// Add a field (to an object node) or an item (to an array node).
    Insert(String, Value),
    /// Wrap the node in this many arrays.
    Nest(u8),
    /// Change the node's value but not its type: a string becomes this
    /// text, a number an extreme one (picked by the `u64`), a boolean its
    /// opposite; an array loses or repeats an item, an object loses a field.
    Perturb(u64, String),
}

/// One [`Mutation`]; field names and values drawn with `keys`.
pub fn mutation(keys: &'static [&'static str]) -> impl Strategy<Value = Mutation> {
    let name = prop_oneof![
        3 => proptest::sample::select(keys).prop_map(str::to_string),
        1 => short_text(),
    ];
    prop_oneof![
        3 => Just(Mutation::Remove),
        3 => any_value(keys).prop_map(Mutation::Replace),
        1 => long_text().prop_map(|s| Mutation::Replace(Value::String(s))),
        2 => Just(Mutation::Retype),
        1 => Just(Mutation::Duplicate),
        3 => any::<u32>().prop_map(Mutation::Borrow),
        2 => (name, any_value(keys)).prop_map(|(k, v)| Mutation::Insert(k, v)),
        1 => (1u8..=150).prop_map(Mutation::Nest),
    ]
}

/// A [`Mutation::Perturb`]: same type, odd value.
pub fn perturbation() -> impl Strategy<Value = Mutation> {
    (
        any::<u64>(),
        prop_oneof![4 => short_text(), 1 => long_text()],
    )
        .prop_map(|(pick, text)| Mutation::Perturb(pick, text))
}

/// `seed` after 1 to `max` [`perturbation`]s: still the same shape, so a
/// strict parser mostly accepts it, with odd values where it had values.
pub fn perturbed(seed: Value, max: usize) -> impl Strategy<Value = Value> {
    vec((any::<u32>(), perturbation()), 1..=max.max(1)).prop_map(move |changes| {
        let mut doc = seed.clone();
        for (pick, change) in changes {
            apply(&mut doc, pick, change);
        }
        doc
    })
}

/// Numbers a perturbed number becomes.
const EXTREME_NUMBERS: &[f64] = &[0.0, -1.0, 1e308, -1e308, 0.5, 4294967296.0, 1e-300];

/// `seed` after 1 to `max` mutations at random nodes.
pub fn mutated(
    seed: Value,
    keys: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Value> {
    vec((any::<u32>(), mutation(keys)), 1..=max.max(1)).prop_map(move |changes| {
        let mut doc = seed.clone();
        for (pick, change) in changes {
            apply(&mut doc, pick, change);
        }
        doc
    })
}

/// A step from a node to one of its children.
#[derive(Debug, Clone)]
enum Step {
    Field(String),
    Item(usize),
}

/// Every node's path, root first, depth first.
fn paths(doc: &Value) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    let mut stack = vec![(doc, Vec::new())];
    while let Some((node, path)) = stack.pop() {
        match node {
            Value::Object(map) => {
                for (k, v) in map {
                    let mut p = path.clone();
                    p.push(Step::Field(k.clone()));
                    stack.push((v, p));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let mut p = path.clone();
                    p.push(Step::Item(i));
                    stack.push((v, p));
                }
            }
            _ => {}
        }
        out.push(path);
    }
    out
}

fn node<'a>(doc: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, step| match step {
        Step::Field(k) => v.get(k),
        Step::Item(i) => v.get(i),
    })
}

fn node_mut<'a>(doc: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |v, step| match step {
        Step::Field(k) => v.get_mut(k),
        Step::Item(i) => v.get_mut(i),
    })
}

/// Apply `change` at the node `pick` selects (modulo the node count).
pub fn apply(doc: &mut Value, pick: u32, change: Mutation) {
    let all = paths(doc);
    let path = all[pick as usize % all.len()].clone();
    if let Mutation::Remove = change {
        let Some((last, parent)) = path.split_last() else {
            *doc = Value::Null;
            return;
        };
        match (node_mut(doc, parent), last) {
            (Some(Value::Object(map)), Step::Field(k)) => {
                map.remove(k);
            }
            (Some(Value::Array(items)), Step::Item(i)) if *i < items.len() => {
                items.remove(*i);
            }
            _ => {}
        }
        return;
    }
    let borrowed = match &change {
        Mutation::Borrow(other) => node(doc, &all[*other as usize % all.len()]).cloned(),
        _ => None,
    };
    let Some(target) = node_mut(doc, &path) else {
        return;
    };
    match change {
        Mutation::Remove => {}
        Mutation::Replace(value) => *target = value,
        Mutation::Retype => *target = retype(target.take()),
        Mutation::Duplicate => {
            let copy = target.clone();
            match (target, copy) {
                (Value::Array(items), Value::Array(again)) => items.extend(again),
                (target, copy) => *target = Value::Array(vec![copy.clone(), copy]),
            }
        }
        Mutation::Borrow(_) => {
            if let Some(value) = borrowed {
                *target = value;
            }
        }
        Mutation::Insert(name, value) => match target {
            Value::Object(map) => {
                map.insert(name, value);
            }
            Value::Array(items) => items.push(value),
            _ => *target = value,
        },
        Mutation::Perturb(pick, text) => perturb(target, pick, text),
        Mutation::Nest(depth) => {
            let mut value = target.take();
            for _ in 0..depth {
                value = Value::Array(vec![value]);
            }
            *target = value;
        }
    }
}

fn perturb(target: &mut Value, pick: u64, text: String) {
    let at = |len: usize| (pick % len.max(1) as u64) as usize;
    match target {
        Value::Null => {}
        Value::Bool(b) => *b = !*b,
        Value::Number(_) => {
            *target = match pick % 3 {
                0 => Value::from(pick),
                1 => Value::from(-(pick as i64).abs()),
                _ => Value::from(EXTREME_NUMBERS[at(EXTREME_NUMBERS.len())]),
            }
        }
        Value::String(s) => *s = text,
        Value::Array(items) if !items.is_empty() => {
            let i = at(items.len());
            if pick.is_multiple_of(2) {
                items.remove(i);
            } else {
                let copy = items[i].clone();
                items.insert(i, copy);
            }
        }
        Value::Object(map) if !map.is_empty() => {
            if let Some(key) = map.keys().nth(at(map.len())).cloned() {
                map.remove(&key);
            }
        }
        Value::Array(_) | Value::Object(_) => {}
    }
}

fn retype(value: Value) -> Value {
    match value {
        Value::Null => Value::Object(Map::new()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Number(n)) => Value::Number(n),
            _ => Value::from(s.len()),
        },
        Value::Array(items) => Value::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        ),
        Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"a": 1, "b": ["x", "y"]})
    }

    /// Node picks, depth first from the root: 0 root, 1 `b` (pushed last,
    /// popped first), 2 `b[1]`, 3 `b[0]`, 4 `a`.
    #[test]
    fn picks_walk_every_node() {
        assert_eq!(paths(&doc()).len(), 5);
    }

    #[test]
    fn remove_drops_the_node_from_its_parent() {
        let mut d = doc();
        apply(&mut d, 1, Mutation::Remove);
        assert_eq!(d, json!({"a": 1}));
        let mut d = doc();
        apply(&mut d, 0, Mutation::Remove);
        assert_eq!(d, Value::Null);
    }

    #[test]
    fn borrow_copies_another_node_here() {
        let mut d = doc();
        apply(&mut d, 4, Mutation::Borrow(1));
        assert_eq!(d, json!({"a": ["x", "y"], "b": ["x", "y"]}));
    }

    #[test]
    fn nest_and_retype() {
        let mut d = doc();
        apply(&mut d, 4, Mutation::Nest(2));
        assert_eq!(d, json!({"a": [[1]], "b": ["x", "y"]}));
        let mut d = doc();
        apply(&mut d, 4, Mutation::Retype);
        assert_eq!(d, json!({"a": "1", "b": ["x", "y"]}));
    }

    #[test]
    fn perturb_keeps_the_type() {
        let mut d = doc();
        apply(&mut d, 4, Mutation::Perturb(2, "t".into()));
        assert!(d["a"].is_number());
        apply(&mut d, 1, Mutation::Perturb(1, "t".into()));
        assert_eq!(d["b"], json!(["x", "y", "y"]));
        // picks now: root, b, b[2], b[1], b[0], a
        apply(&mut d, 2, Mutation::Perturb(0, "t".into()));
        assert_eq!(d["b"], json!(["x", "y", "t"]));
    }
}
