//! The words of a command line: a line is split into commands (`;` or a
//! newline between them) of words (blanks between them), with quotes and
//! backslashes keeping spaces, `;` and quotes inside names, and `#` starting
//! a comment.

/// Splits a line into commands (separated by `;` or newlines) of words
/// (separated by blanks). `'...'` keeps everything literally; `"..."` keeps
/// blanks and `;`, with `\"` and `\\` inside; a backslash outside quotes
/// keeps the next character. A command starting with `#` is a comment.
pub fn tokenize(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' if !in_word && words.is_empty() => {
                // A comment runs to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                commands.push(std::mem::take(&mut words));
            }
            ' ' | '\t' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ';' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                commands.push(std::mem::take(&mut words));
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("Unclosed quote (').".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("Unclosed quote (\").".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("Unclosed quote (\").".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next().unwrap_or('\\'));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    commands.push(words);
    commands.retain(|c| !c.is_empty());
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<String>> {
        tokenize(line).unwrap()
    }

    #[test]
    fn quotes_keep_spaces_in_names() {
        assert_eq!(words(r#"get "my file.txt" 'local name'"#), [["get", "my file.txt", "local name"]]);
        assert_eq!(words(r"get my\ file.txt"), [["get", "my file.txt"]]);
        assert_eq!(words(r#"get "a \"q\" b""#), [["get", r#"a "q" b"#]]);
        assert_eq!(words(r#"get """#), [["get", ""]]);
    }

    #[test]
    fn semicolons_and_newlines_separate_commands_outside_quotes() {
        assert_eq!(words("get a.txt; bye"), [vec!["get", "a.txt"], vec!["bye"]]);
        assert_eq!(words("pwd\nls"), [vec!["pwd"], vec!["ls"]]);
        assert_eq!(words("get 'a;b'"), [["get", "a;b"]]);
    }

    /// The C original crashed on an empty line.
    #[test]
    fn empty_and_comment_lines_hold_no_command() {
        assert!(words("").is_empty());
        assert!(words("   \t ").is_empty());
        assert!(words(" ; ;").is_empty());
        assert!(words("# a comment; get x").is_empty());
        assert_eq!(words("# c\npwd"), [["pwd"]]);
    }

    #[test]
    fn unclosed_quotes_are_an_error() {
        assert!(tokenize("get 'a").is_err());
        assert!(tokenize("get \"a").is_err());
    }
}
