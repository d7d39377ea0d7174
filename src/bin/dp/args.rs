//! A small hand-written command-line parser: `--name value`, `--name=value` and switches, with
//! errors that name the flag and say what it expects.

use crate::CliError;
use std::path::PathBuf;
use std::str::FromStr;

/// One accepted flag: its name (`--steps`) and value placeholder (`N`), or `None` for a switch.
pub struct Flag {
    pub name: &'static str,
    pub value: Option<&'static str>,
}

/// Shorthand for a flag that takes a value.
pub const fn opt(name: &'static str, value: &'static str) -> Flag {
    Flag {
        name,
        value: Some(value),
    }
}

/// Shorthand for a switch.
pub const fn switch(name: &'static str) -> Flag {
    Flag { name, value: None }
}

/// The flags of one command line, checked against the command's [`Flag`] list.
pub struct Parsed {
    command: &'static str,
    given: Vec<(&'static str, Option<String>)>,
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `known` to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (distance(word, k), k))
        .filter(|&(d, k)| d <= 2.max(k.len() / 4))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

impl Parsed {
    /// Parses `argv` (the words after the command name) against `flags`.
    pub fn new(command: &'static str, flags: &[Flag], argv: &[String]) -> Result<Parsed, CliError> {
        let help = format!("run `dp {command} --help` for the accepted flags");
        let mut given: Vec<(&'static str, Option<String>)> = Vec::new();
        let mut i = 0;
        while i < argv.len() {
            let word = &argv[i];
            i += 1;
            if !word.starts_with("--") {
                return Err(CliError::usage(
                    format!("unexpected argument `{word}`: `dp {command}` takes only --flags"),
                    if word.starts_with('-') {
                        format!("flags start with two dashes; {help}")
                    } else {
                        format!("values go after their flag, e.g. `--model {word}`; {help}")
                    },
                ));
            }
            let (name, inline) = match word.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (word.as_str(), None),
            };
            let Some(flag) = flags.iter().find(|f| f.name == name) else {
                let hint = match suggest(name, flags.iter().map(|f| f.name)) {
                    Some(s) => format!("did you mean `{s}`? {help}"),
                    None => help,
                };
                return Err(CliError::usage(
                    format!("unknown flag `{name}` for `dp {command}`"),
                    hint,
                ));
            };
            if given.iter().any(|(n, _)| *n == flag.name) {
                return Err(CliError::usage(
                    format!("`{}` is given more than once", flag.name),
                    "give each flag once".to_string(),
                ));
            }
            let value = match (flag.value, inline) {
                (None, None) => None,
                (None, Some(_)) => {
                    return Err(CliError::usage(
                        format!("`{}` is a switch and takes no value", flag.name),
                        format!("write just `{}`", flag.name),
                    ))
                }
                (Some(_), Some(v)) => Some(v),
                (Some(meta), None) => match argv.get(i) {
                    Some(v) if !v.starts_with("--") => {
                        i += 1;
                        Some(v.clone())
                    }
                    _ => {
                        return Err(CliError::usage(
                            format!("`{}` needs a value", flag.name),
                            format!("write `{} {meta}`; {help}", flag.name),
                        ))
                    }
                },
            };
            if let Some(v) = &value {
                if v.is_empty() {
                    return Err(CliError::usage(
                        format!("`{}` has an empty value", flag.name),
                        format!("write `{} {}`", flag.name, flag.value.unwrap_or("VALUE")),
                    ));
                }
            }
            given.push((flag.name, value));
        }
        Ok(Parsed { command, given })
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.given
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// A flag's value as given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.raw(name)
    }

    /// Whether a flag (switch or not) was given.
    pub fn has(&self, name: &str) -> bool {
        self.given.iter().any(|(n, _)| *n == name)
    }

    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.raw(name).map(PathBuf::from)
    }

    /// A number; `what` describes the accepted values for the error message.
    pub fn number<T: FromStr>(&self, name: &str, what: &str) -> Result<Option<T>, CliError> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<T>().map(Some).map_err(|_| {
                CliError::usage(
                    format!("`{name}` expects {what}, got `{v}`"),
                    format!("run `dp {} --help` for the accepted values", self.command),
                )
            }),
        }
    }

    /// One of a fixed set of words.
    pub fn choice(
        &self,
        name: &str,
        accepted: &[&'static str],
    ) -> Result<Option<&'static str>, CliError> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) => accepted
                .iter()
                .find(|a| a.eq_ignore_ascii_case(v))
                .copied()
                .map(Some)
                .ok_or_else(|| {
                    CliError::usage(
                        format!(
                            "`{name}` is `{v}`, which is not one of {}",
                            accepted.join(", ")
                        ),
                        format!("write e.g. `{name} {}`", accepted[0]),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    const FLAGS: &[Flag] = &[opt("--steps", "N"), opt("--eta", "E"), switch("--cpu")];

    #[test]
    fn parses_both_spellings() {
        let p = Parsed::new("t", FLAGS, &words("--steps 5 --eta=0.5 --cpu")).unwrap();
        assert_eq!(p.number::<usize>("--steps", "n").unwrap(), Some(5));
        assert_eq!(p.number::<f32>("--eta", "e").unwrap(), Some(0.5));
        assert!(p.has("--cpu"));
    }

    #[test]
    fn refuses_bad_lines() {
        for line in [
            "--stepz 5",
            "--steps",
            "--steps --cpu",
            "--cpu=1",
            "5",
            "--steps 1 --steps 2",
        ] {
            assert!(Parsed::new("t", FLAGS, &words(line)).is_err(), "{line}");
        }
        let p = Parsed::new("t", FLAGS, &words("--steps x")).unwrap();
        assert!(p.number::<usize>("--steps", "n").is_err());
    }

    #[test]
    fn suggests_near_names() {
        assert_eq!(suggest("--stpes", ["--steps", "--eta"]), Some("--steps"));
        assert_eq!(suggest("--zzzzzzz", ["--steps", "--eta"]), None);
    }
}
