//! Just enough XML for the query protocol's answers: a tree of elements with their text, read with
//! `xmlparser` (the tokenizer the SDK itself uses). Namespaces and attributes are dropped: AWS puts
//! nothing in them that these calls read.

/// An element: its local name, its own text (entities resolved) and its child elements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad XML: {0}")]
pub struct XmlError(String);

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at `path` below this one, one name per level.
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |element, name| element.child(name))
    }

    /// The text of the child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The first element named `name` anywhere below this one, depth first.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|c| if c.name == name { Some(c) } else { c.find(name) })
    }
}

/// The document's root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    use xmlparser::{ElementEnd, Token};
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    for token in xmlparser::Tokenizer::from(text) {
        match token.map_err(|e| XmlError(e.to_string()))? {
            Token::ElementStart { local, .. } => {
                if root.is_some() {
                    return Err(XmlError("content after the root element".into()));
                }
                stack.push(Element { name: local.as_str().to_owned(), ..Element::default() });
            }
            Token::ElementEnd { end: ElementEnd::Open, .. } => {}
            Token::ElementEnd { end: ElementEnd::Close(_, local), .. } => {
                let element = stack.pop().ok_or_else(|| XmlError(format!("</{}> closes nothing", local.as_str())))?;
                if element.name != local.as_str() {
                    return Err(XmlError(format!("<{}> closed by </{}>", element.name, local.as_str())));
                }
                close(&mut stack, &mut root, element);
            }
            Token::ElementEnd { end: ElementEnd::Empty, .. } => {
                let element = stack.pop().ok_or_else(|| XmlError("an empty element outside any".into()))?;
                close(&mut stack, &mut root, element);
            }
            Token::Text { text } => {
                if let Some(open) = stack.last_mut() {
                    unescape_into(text.as_str(), &mut open.text)?;
                }
            }
            Token::Cdata { text, .. } => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(text.as_str());
                }
            }
            _ => {}
        }
    }
    match (root, stack.last()) {
        (Some(root), None) => Ok(root),
        (_, Some(open)) => Err(XmlError(format!("<{}> is never closed", open.name))),
        (None, None) => Err(XmlError("no element".into())),
    }
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Text with its five named entities and character references resolved.
fn unescape_into(text: &str, out: &mut String) -> Result<(), XmlError> {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').ok_or_else(|| XmlError("an unterminated entity".into()))?;
        let entity = &after[..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32)
                .ok_or_else(|| XmlError(format!("unknown entity &{entity};")))?,
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_becomes_a_tree_with_text_unescaped() {
        let doc = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <R xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><a>1 &amp; 2 &lt;3&#x21;&#33;</a><b/><list><item>x</item><item><![CDATA[<y>]]></item></list></R>"#,
        )
        .unwrap();
        assert_eq!(doc.name, "R");
        assert_eq!(doc.text_of("a"), Some("1 & 2 <3!!"));
        assert_eq!(doc.text_of("b"), Some(""));
        let items: Vec<&str> = doc.at(&["list"]).unwrap().children_named("item").map(|i| i.text.as_str()).collect();
        assert_eq!(items, ["x", "<y>"]);
        assert_eq!(doc.find("item").map(|i| i.text.as_str()), Some("x"));
        assert!(doc.at(&["list", "nothing"]).is_none());
    }

    #[test]
    fn broken_documents_are_errors() {
        for bad in ["", "text", "<a>", "<a></b>", "<a>&bogus;</a>", "<a>&amp</a>", "<a/><b/>", "<a>&#xD800;</a>"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
