//! ALB's wildcards, compiled once: `*` matches zero or more characters, `?` exactly one
//! ([condition types](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html)).
//!
//! A pattern is split at its stars into literal segments (each may hold `?`). The first segment
//! must match at the start of the text, the last at its end, and the ones between are placed
//! leftmost, one after another. Because `?` matches exactly one byte, every segment has a fixed
//! length, so the leftmost placement of a segment always leaves the most text for the ones after
//! it: greedy placement finds a match whenever there is one, without backtracking. Cost is
//! O(text × pattern) at worst; patterns are at most 128 characters.
//!
//! Matching is over bytes, so it never allocates. Where ALB compares case-insensitively the
//! pattern is lowercased once at compile time and the text folded byte by byte (ASCII only:
//! ALB applies rules to visible ASCII characters).

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    /// The segments between stars. Without a star there is exactly one, which must match the whole
    /// text; with `n` stars there are `n + 1`, the first and last possibly empty.
    segments: Vec<Segment>,
    starred: bool,
    /// Compare ASCII letters without regard to case (the pattern is stored lowercased).
    fold: bool,
    /// The shortest text that can match: the sum of the segments' lengths.
    min_len: usize,
    /// Wildcard characters written in the pattern (escaped ones excluded): ALB's per-rule quota.
    wildcards: usize,
}

/// Literal bytes and `?` positions, matched against a slice of the same length.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    bytes: Box<[u8]>,
    /// `any[i]`: position `i` is a `?`. Empty when the segment has none (the common case, which
    /// is then a plain slice comparison).
    any: Box<[bool]>,
}

impl Segment {
    fn new(bytes: Vec<u8>, any: Vec<bool>) -> Self {
        let any = if any.iter().any(|a| *a) { any.into_boxed_slice() } else { Box::default() };
        Segment { bytes: bytes.into_boxed_slice(), any }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the segment matches `text`, which has the segment's length.
    #[inline]
    fn matches(&self, text: &[u8], fold: bool) -> bool {
        if self.any.is_empty() {
            return if fold { self.bytes.eq_ignore_ascii_case(text) } else { *self.bytes == *text };
        }
        self.bytes
            .iter()
            .zip(self.any.iter())
            .zip(text)
            .all(|((p, any), t)| *any || if fold { p.eq_ignore_ascii_case(t) } else { p == t })
    }

    /// Where the segment first matches within `text`, if anywhere.
    fn find(&self, text: &[u8], fold: bool) -> Option<usize> {
        let len = self.len();
        if len > text.len() {
            return None;
        }
        (0..=text.len() - len).find(|&at| self.matches(&text[at..at + len], fold))
    }
}

impl Glob {
    /// Compiles `pattern`. With `escapes`, `\*` and `\?` stand for a literal `*` and `?` (ALB's
    /// query-string conditions); a backslash before anything else is itself.
    pub(crate) fn new(pattern: &str, fold: bool, escapes: bool) -> Self {
        let mut segments = Vec::new();
        let (mut bytes, mut any) = (Vec::new(), Vec::new());
        let mut wildcards = 0;
        let mut input = pattern.bytes().peekable();
        while let Some(b) = input.next() {
            match b {
                b'\\' if escapes && matches!(input.peek(), Some(b'*' | b'?')) => {
                    bytes.extend(input.next());
                    any.push(false);
                }
                b'*' => {
                    wildcards += 1;
                    segments.push(Segment::new(std::mem::take(&mut bytes), std::mem::take(&mut any)));
                }
                b'?' => {
                    wildcards += 1;
                    bytes.push(b'?');
                    any.push(true);
                }
                _ => {
                    bytes.push(if fold { b.to_ascii_lowercase() } else { b });
                    any.push(false);
                }
            }
        }
        segments.push(Segment::new(bytes, any));
        let starred = segments.len() > 1;
        if starred {
            // `a**b` is `a*b`: empty segments between stars constrain nothing.
            let last = segments.len() - 1;
            let mut index = 0;
            segments.retain(|s| {
                let keep = index == 0 || index == last || s.len() > 0;
                index += 1;
                keep
            });
        }
        let min_len = segments.iter().map(Segment::len).sum();
        Glob { segments, starred, fold, min_len, wildcards }
    }

    /// The pattern's text when it has no wildcard (lowercased if folded).
    pub(crate) fn literal(&self) -> Option<&[u8]> {
        match self.segments.as_slice() {
            [only] if !self.starred && only.any.is_empty() => Some(&only.bytes),
            _ => None,
        }
    }

    /// The literal bytes every matching text starts with: the first segment up to its first `?`.
    pub(crate) fn literal_prefix(&self) -> &[u8] {
        let first = self.segments.first().map_or(&[][..], |s| &s.bytes[..]);
        let end = self.segments.first().and_then(|s| s.any.iter().position(|a| *a)).unwrap_or(first.len());
        &first[..end]
    }

    /// Wildcard characters in the pattern, escaped ones excluded.
    pub(crate) fn wildcards(&self) -> usize {
        self.wildcards
    }

    /// Whether `text` matches the whole pattern.
    #[inline]
    pub(crate) fn matches(&self, text: &[u8]) -> bool {
        if text.len() < self.min_len {
            return false;
        }
        let Some((first, rest)) = self.segments.split_first() else { return false };
        if !self.starred {
            return text.len() == first.len() && first.matches(text, self.fold);
        }
        let Some((last, middle)) = rest.split_last() else { return false };
        if !first.matches(&text[..first.len()], self.fold) || !last.matches(&text[text.len() - last.len()..], self.fold)
        {
            return false;
        }
        // min_len guarantees first and last do not overlap.
        let mut window = &text[first.len()..text.len() - last.len()];
        for segment in middle {
            match segment.find(window, self.fold) {
                Some(at) => window = &window[at + segment.len()..],
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case_sensitive(p: &str, t: &str) -> bool {
        Glob::new(p, false, false).matches(t.as_bytes())
    }

    fn folded(p: &str, t: &str) -> bool {
        Glob::new(p, true, false).matches(t.as_bytes())
    }

    #[test]
    fn a_star_matches_any_run_including_none_and_slashes() {
        assert!(case_sensitive("/img/*", "/img/"));
        assert!(case_sensitive("/img/*", "/img/a/b/c.jpg"));
        assert!(!case_sensitive("/img/*", "/img"));
        assert!(case_sensitive("*", ""));
        assert!(case_sensitive("/img/*/pics", "/img/2024/06/pics"));
        assert!(!case_sensitive("/img/*/pics", "/img/pics"));
    }

    #[test]
    fn a_question_mark_matches_exactly_one_byte() {
        assert!(case_sensitive("/v?/users", "/v1/users"));
        assert!(!case_sensitive("/v?/users", "/v/users"));
        assert!(!case_sensitive("/v?/users", "/v10/users"));
        assert!(case_sensitive("a?c*e", "abcde"));
    }

    #[test]
    fn middle_segments_are_placed_leftmost_without_backtracking() {
        assert!(case_sensitive("*ab*ab*", "xxabyyab"));
        assert!(case_sensitive("a*b*c*d", "aXXbYYcZZd"));
        assert!(!case_sensitive("a*b*c*d", "aXXcYYbZZd"));
        assert!(case_sensitive("*aab", "aaab"));
        assert!(!case_sensitive("ab*ba", "aba"));
        assert!(case_sensitive("a**b", "ab"));
    }

    #[test]
    fn folding_ignores_ascii_case_only_where_asked() {
        assert!(folded("*.EXAMPLE.com", "api.Example.COM"));
        assert!(!case_sensitive("/Img/*", "/img/a"));
    }

    #[test]
    fn literal_parts_are_known() {
        assert_eq!(Glob::new("API.example.com", true, false).literal(), Some(&b"api.example.com"[..]));
        assert_eq!(Glob::new("*.example.com", true, false).literal(), None);
        assert_eq!(Glob::new("/v?/x", false, false).literal(), None);
        assert_eq!(Glob::new("/api/v?/*", false, false).literal_prefix(), b"/api/v");
        assert_eq!(Glob::new("*/x", false, false).literal_prefix(), b"");
        assert_eq!(Glob::new("/exact", false, false).literal_prefix(), b"/exact");
    }

    #[test]
    fn escaped_wildcards_are_literal_and_not_counted() {
        let g = Glob::new(r"a\*b\?c", true, true);
        assert!(g.matches(b"a*b?c"));
        assert!(!g.matches(b"aXbYc"));
        assert_eq!(g.wildcards(), 0);
        assert_eq!(Glob::new("*a?*", false, false).wildcards(), 3);
        // Without escapes a backslash is an ordinary byte.
        assert!(Glob::new(r"a\*", false, false).matches(br"a\zzz"));
    }

    /// The textbook definition, by dynamic programming over (pattern, text) positions.
    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        let mut reach = vec![vec![false; text.len() + 1]; pattern.len() + 1];
        reach[0][0] = true;
        for (i, p) in pattern.iter().enumerate() {
            for j in 0..=text.len() {
                if !reach[i][j] {
                    continue;
                }
                match p {
                    b'*' => (j..=text.len()).for_each(|k| reach[i + 1][k] = true),
                    b'?' if j < text.len() => reach[i + 1][j + 1] = true,
                    c if j < text.len() && text[j] == *c => reach[i + 1][j + 1] = true,
                    _ => {}
                }
            }
        }
        reach[pattern.len()][text.len()]
    }

    proptest::proptest! {
        #[test]
        fn matching_agrees_with_the_textbook_definition(pattern in "[ab*?]{0,10}", text in "[ab]{0,14}") {
            proptest::prop_assert_eq!(case_sensitive(&pattern, &text), reference(pattern.as_bytes(), text.as_bytes()));
        }
    }
}
