//! The SCIM filter subset PingOne accepts (§5.2, checklist item 8): a real
//! tokenizer and recursive-descent parser, a per-collection schema check,
//! and an evaluator shared by list filters and dynamic groups' `userFilter`.
//!
//! Grammar: `or := and (OR and)*`, `and := primary (AND primary)*`,
//! `primary := '(' or ')' | attr op value | attr pr | memberOfGroups '[' id eq "g" ']'`.
//! Keywords and operators are case-insensitive; attribute names are matched
//! case-insensitively and rewritten to their canonical spelling; strings
//! take double quotes (with `\"` escapes) or single quotes (the docs use
//! `title eq 'Manager'` in a `userFilter`). The parser knows every SCIM
//! operator so that `ne`, `gt`, `not`, ... are refused as *unsupported*
//! (400 INVALID_FILTER with `supportedAttributes`/`supportedOperators`)
//! rather than as syntax errors.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Sw,
    Ew,
    Co,
    Pr,
    Gt,
    Ge,
    Lt,
    Le,
}

/// Every SCIM operator with its spelling.
const OPS: [(Op, &str); 10] = [
    (Op::Eq, "eq"),
    (Op::Ne, "ne"),
    (Op::Sw, "sw"),
    (Op::Ew, "ew"),
    (Op::Co, "co"),
    (Op::Pr, "pr"),
    (Op::Gt, "gt"),
    (Op::Ge, "ge"),
    (Op::Lt, "lt"),
    (Op::Le, "le"),
];

impl Op {
    fn parse(w: &str) -> Option<Op> {
        OPS.iter()
            .find(|(_, s)| s.eq_ignore_ascii_case(w))
            .map(|(op, _)| *op)
    }

    pub fn as_str(self) -> &'static str {
        OPS.iter()
            .find(|(op, _)| *op == self)
            .map_or("", |(_, s)| s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Str(String),
    Bool(bool),
    Num(String),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp {
        attr: String,
        op: Op,
        value: Lit,
        /// Case-insensitive compare (username, email); `lower` caches the
        /// literal in lower case.
        ci: bool,
        lower: String,
    },
    /// `memberOfGroups[id eq "<gid>"]`: direct and indirect members.
    MemberOf(String),
}

/// A parse or schema error, reported as 400 INVALID_FILTER.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterError {
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn err<T>(message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError {
        message: message.into(),
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Str(String),
    Word(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, FilterError> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '(' | ')' | '[' | ']' => {
                it.next();
                out.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '[' => Tok::LBracket,
                    _ => Tok::RBracket,
                });
            }
            '"' | '\'' => {
                let quote = c;
                it.next();
                let mut v = String::new();
                let mut closed = false;
                while let Some((_, c)) = it.next() {
                    if c == '\\' {
                        match it.next() {
                            Some((_, e)) => v.push(e),
                            None => break,
                        }
                    } else if c == quote {
                        closed = true;
                        break;
                    } else {
                        v.push(c);
                    }
                }
                if !closed {
                    return err(format!("Unterminated string starting at position {i}"));
                }
                out.push(Tok::Str(v));
            }
            c if c.is_alphanumeric() || "_.-:$@+".contains(c) => {
                let mut w = String::new();
                while let Some(&(_, c)) = it.peek() {
                    if c.is_alphanumeric() || "_.-:$@+".contains(c) {
                        w.push(c);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(w));
            }
            other => return err(format!("Unexpected character '{other}' at position {i}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        self.joined("or", Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        self.joined("and", Self::primary, Expr::And)
    }

    /// `item (keyword item)*`, one item standing for itself.
    fn joined(
        &mut self,
        keyword: &str,
        item: fn(&mut Self) -> Result<Expr, FilterError>,
        join: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, FilterError> {
        let mut items = vec![item(self)?];
        while self.peek_keyword(keyword) {
            self.next();
            items.push(item(self)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            join(items)
        })
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => err("Expected ')'"),
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") => {
                err("Unsupported operator 'not'")
            }
            Some(Tok::Word(attr)) => {
                if self.peek() == Some(&Tok::LBracket) {
                    self.next();
                    let inner = self.or()?;
                    if self.next() != Some(Tok::RBracket) {
                        return err("Expected ']'");
                    }
                    if !attr.eq_ignore_ascii_case("memberOfGroups") {
                        return err(format!("Unsupported complex attribute '{attr}'"));
                    }
                    return match inner {
                        Expr::Cmp {
                            attr: a,
                            op: Op::Eq,
                            value: Lit::Str(g),
                            ..
                        } if a.eq_ignore_ascii_case("id") => Ok(Expr::MemberOf(g)),
                        _ => err("memberOfGroups supports only [id eq \"<groupId>\"]"),
                    };
                }
                let op = match self.next() {
                    Some(Tok::Word(o)) => match Op::parse(&o) {
                        Some(op) => op,
                        None => return err(format!("Unknown operator '{o}'")),
                    },
                    _ => return err(format!("Expected an operator after '{attr}'")),
                };
                let value = if op == Op::Pr {
                    Lit::Null
                } else {
                    match self.next() {
                        Some(Tok::Str(s)) => Lit::Str(s),
                        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Lit::Bool(true),
                        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Lit::Bool(false),
                        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Lit::Null,
                        Some(Tok::Word(w)) if w.parse::<f64>().is_ok() => Lit::Num(w),
                        _ => {
                            return err(format!("Expected a value after '{attr} {}'", op.as_str()));
                        }
                    }
                };
                Ok(Expr::Cmp {
                    attr,
                    op,
                    value,
                    ci: false,
                    lower: String::new(),
                })
            }
            Some(t) => err(format!("Unexpected token {t:?}")),
            None => err("Unexpected end of filter"),
        }
    }
}

/// What one collection lets you filter on.
pub struct Schema {
    pub attrs: &'static [(&'static str, &'static [Op])],
    pub member_of: bool,
    /// Whether `or` is accepted (every collection but the audit log).
    pub or: bool,
    /// Attributes compared case-insensitively.
    pub case_insensitive: &'static [&'static str],
}

const EQ_SW: &[Op] = &[Op::Eq, Op::Sw];
const EQ_SW_EW_CO: &[Op] = &[Op::Eq, Op::Sw, Op::Ew, Op::Co];
const EQ_SW_EW: &[Op] = &[Op::Eq, Op::Sw, Op::Ew];
const EQ: &[Op] = &[Op::Eq];

/// `/users` and dynamic groups (§5.2 table).
pub static USERS: Schema = Schema {
    attrs: &[
        ("id", EQ),
        ("username", EQ_SW),
        ("email", EQ_SW_EW),
        ("name.given", EQ_SW_EW_CO),
        ("name.family", EQ_SW_EW_CO),
        ("name.middle", EQ_SW),
        ("name.formatted", EQ_SW),
        ("name.honorificPrefix", EQ_SW),
        ("name.honorificSuffix", EQ_SW),
        ("population.id", EQ),
        ("enabled", EQ_SW),
        ("externalId", EQ_SW),
        ("accountId", EQ_SW),
        ("nickname", EQ_SW),
        ("title", EQ_SW),
        ("type", EQ_SW),
        ("locale", EQ_SW),
        ("preferredLanguage", EQ_SW),
        ("timezone", EQ_SW),
        ("primaryPhone", EQ_SW),
        ("mobilePhone", EQ_SW),
        ("photo.href", EQ_SW),
        ("address.streetAddress", EQ_SW),
        ("address.locality", EQ_SW),
        ("address.region", EQ_SW),
        ("address.postalCode", EQ_SW),
        ("address.countryCode", EQ_SW),
        // The generated schema's custom STRING attributes.
        ("costCenter", EQ_SW),
        ("department", EQ_SW),
    ],
    member_of: true,
    or: true,
    case_insensitive: &["username", "email"],
};

pub static GROUPS: Schema = Schema::plain(&[
    ("id", EQ),
    ("name", EQ_SW),
    ("population.id", EQ),
    ("externalId", EQ),
]);

pub static POPULATIONS: Schema = Schema::plain(&[("id", EQ), ("name", EQ_SW)]);

/// A user's `memberOfGroups` and an environment's roles: `type eq`.
pub static TYPE_ONLY: Schema = Schema::plain(&[("type", EQ)]);

const RANGE: &[Op] = &[Op::Ge, Op::Gt, Op::Le, Op::Lt];

/// `/activities` (pingone-activities.md §1.2): the quick reference's
/// attributes and operators. `or` is refused: no Ping source confirms it,
/// so a connector must not depend on it.
pub static ACTIVITIES: Schema = Schema {
    attrs: &[
        ("recordedAt", RANGE),
        ("correlationId", EQ),
        ("actors.client.id", EQ),
        ("actors.user.id", EQ),
        ("actors.user.name", EQ),
        ("resources.id", EQ),
        ("resources.type", EQ),
        ("resources.population.id", EQ),
        ("action.type", EQ),
    ],
    member_of: false,
    or: false,
    case_insensitive: &[],
};

impl Schema {
    /// Case-sensitive attributes, `or` accepted, no `memberOfGroups`.
    const fn plain(attrs: &'static [(&'static str, &'static [Op])]) -> Schema {
        Schema {
            attrs,
            member_of: false,
            or: true,
            case_insensitive: &[],
        }
    }

    pub fn supported_attributes(&self) -> Vec<String> {
        let mut v: Vec<String> = self.attrs.iter().map(|(a, _)| a.to_string()).collect();
        if self.member_of {
            v.push("memberOfGroups".into());
        }
        v
    }

    pub fn supported_operators(&self) -> Vec<String> {
        let mut ops: Vec<&str> = Vec::new();
        for (_, o) in self.attrs {
            for op in *o {
                if !ops.contains(&op.as_str()) {
                    ops.push(op.as_str());
                }
            }
        }
        ops.push("and");
        if self.or {
            ops.push("or");
        }
        ops.into_iter().map(String::from).collect()
    }
}

/// Parses `s` and checks it against `schema`.
pub fn parse(s: &str, schema: &Schema) -> Result<Expr, FilterError> {
    if s.trim().is_empty() {
        return err("The filter is empty");
    }
    let mut p = Parser {
        toks: tokenize(s)?,
        pos: 0,
    };
    let mut e = p.or()?;
    if p.pos < p.toks.len() {
        return err(format!(
            "Unexpected token {:?} after a complete expression",
            p.toks[p.pos]
        ));
    }
    check(&mut e, schema)?;
    Ok(e)
}

fn check(e: &mut Expr, schema: &Schema) -> Result<(), FilterError> {
    match e {
        Expr::Or(_) if !schema.or => err("Unsupported operator 'or'"),
        Expr::And(v) | Expr::Or(v) => v.iter_mut().try_for_each(|x| check(x, schema)),
        Expr::MemberOf(_) if schema.member_of => Ok(()),
        Expr::MemberOf(_) => err("Unsupported attribute 'memberOfGroups'"),
        Expr::Cmp {
            attr,
            op,
            value,
            ci,
            lower,
        } => {
            let Some((canon, ops)) = schema
                .attrs
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(attr))
            else {
                return err(format!("Unsupported attribute '{attr}'"));
            };
            if !ops.contains(op) {
                return err(format!(
                    "Unsupported operator '{}' for attribute '{canon}'",
                    op.as_str()
                ));
            }
            match value {
                Lit::Str(s) => *lower = s.to_lowercase(),
                Lit::Bool(_) if *canon == "enabled" => {}
                _ => return err(format!("Unsupported value for attribute '{canon}'")),
            }
            *ci = schema.case_insensitive.contains(canon);
            *attr = canon.to_string();
            Ok(())
        }
    }
}

/// An attribute value seen by the evaluator.
#[derive(Clone, Copy, Debug)]
pub enum AttrVal<'a> {
    Str(&'a str),
    Bool(bool),
}

/// Something a filter can be evaluated against.
pub trait Target {
    fn attr(&self, path: &str) -> Option<AttrVal<'_>>;

    /// Only users are members of groups.
    fn member_of(&self, _group_id: &str) -> bool {
        false
    }
}

fn starts_ci(a: &str, b_lower: &str) -> bool {
    if a.is_ascii() && b_lower.is_ascii() {
        a.len() >= b_lower.len()
            && a.as_bytes()[..b_lower.len()].eq_ignore_ascii_case(b_lower.as_bytes())
    } else {
        a.to_lowercase().starts_with(b_lower)
    }
}

fn cmp_str(op: Op, a: &str, b: &str, ci: bool, b_lower: &str) -> bool {
    if ci {
        match op {
            Op::Eq if a.is_ascii() => a.eq_ignore_ascii_case(b_lower),
            Op::Eq => a.to_lowercase() == b_lower,
            Op::Sw => starts_ci(a, b_lower),
            Op::Ew => a.to_lowercase().ends_with(b_lower),
            Op::Co => a.to_lowercase().contains(b_lower),
            _ => false,
        }
    } else {
        match op {
            Op::Eq => a == b,
            Op::Sw => a.starts_with(b),
            Op::Ew => a.ends_with(b),
            Op::Co => a.contains(b),
            _ => false,
        }
    }
}

impl Expr {
    pub fn matches<T: Target + ?Sized>(&self, t: &T) -> bool {
        match self {
            Expr::And(v) => v.iter().all(|e| e.matches(t)),
            Expr::Or(v) => v.iter().any(|e| e.matches(t)),
            Expr::MemberOf(g) => t.member_of(g),
            Expr::Cmp {
                attr,
                op,
                value,
                ci,
                lower,
            } => match (t.attr(attr), value) {
                (None, _) => false,
                (Some(_), _) if *op == Op::Pr => true,
                (Some(AttrVal::Str(a)), Lit::Str(b)) => cmp_str(*op, a, b, *ci, lower),
                (Some(AttrVal::Bool(a)), Lit::Bool(b)) => *op == Op::Eq && a == *b,
                (Some(AttrVal::Bool(a)), Lit::Str(_)) => {
                    let s = if a { "true" } else { "false" };
                    cmp_str(*op, s, lower, false, lower)
                }
                _ => false,
            },
        }
    }

    /// An index the store can use instead of a full scan: the most selective
    /// conjunct among `id eq` (or a disjunction of them), `username eq` and
    /// `memberOfGroups[...]`.
    pub fn hint(&self) -> Option<Hint<'_>> {
        match self {
            Expr::MemberOf(g) => Some(Hint::MemberOf(g)),
            Expr::Cmp {
                attr,
                op: Op::Eq,
                value: Lit::Str(v),
                lower,
                ..
            } => match attr.as_str() {
                "id" => Some(Hint::Id(v)),
                "username" => Some(Hint::Username(lower)),
                _ => None,
            },
            Expr::And(v) => {
                let hints: Vec<Hint> = v.iter().filter_map(|e| e.hint()).collect();
                hints
                    .iter()
                    .find(|h| !matches!(h, Hint::MemberOf(_)))
                    .or_else(|| hints.first())
                    .cloned()
            }
            // `id eq "a" or id eq "b" …`: what the connector's batched reads send.
            Expr::Or(v) => v
                .iter()
                .map(|e| match e.hint() {
                    Some(Hint::Id(id)) => Some(vec![id]),
                    Some(Hint::Ids(ids)) => Some(ids),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(|ids| Hint::Ids(ids.concat())),
            _ => None,
        }
    }

    /// True if the filter refers to group membership (such a filter cannot
    /// define a dynamic group).
    pub fn uses_member_of(&self) -> bool {
        match self {
            Expr::MemberOf(_) => true,
            Expr::And(v) | Expr::Or(v) => v.iter().any(|e| e.uses_member_of()),
            Expr::Cmp { .. } => false,
        }
    }

    /// For `filter=type eq "X"` style filters on small lists.
    pub fn simple_eq(&self, attr: &str) -> Option<&str> {
        match self {
            Expr::Cmp {
                attr: a,
                op: Op::Eq,
                value: Lit::Str(v),
                ..
            } if a == attr => Some(v),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Hint<'a> {
    MemberOf(&'a str),
    Id(&'a str),
    /// Any of these ids.
    Ids(Vec<&'a str>),
    /// Lower-cased username.
    Username(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Obj(HashMap<&'static str, &'static str>, Vec<&'static str>);

    impl Target for Obj {
        fn attr(&self, path: &str) -> Option<AttrVal<'_>> {
            if path == "enabled" {
                return Some(AttrVal::Bool(true));
            }
            self.0.get(path).map(|s| AttrVal::Str(s))
        }
        fn member_of(&self, g: &str) -> bool {
            self.1.contains(&g)
        }
    }

    fn user() -> Obj {
        Obj(
            HashMap::from([
                ("username", "Alice.Smith"),
                ("email", "alice@Example.com"),
                ("name.family", "Smith"),
                ("name.given", "Alice"),
                ("population.id", "p1"),
            ]),
            vec!["g1"],
        )
    }

    fn m(f: &str) -> bool {
        parse(f, &USERS).unwrap().matches(&user())
    }

    #[test]
    fn operators_and_case_rules() {
        assert!(m(r#"username eq "alice.smith""#));
        assert!(m(r#"USERNAME EQ "ALICE.SMITH""#));
        assert!(m(r#"email ew "example.COM""#));
        assert!(m(r#"name.family sw "Sm""#));
        assert!(
            !m(r#"name.family sw "sm""#),
            "name attributes are case-sensitive"
        );
        assert!(m(r#"name.given co "lic""#));
        assert!(m("enabled eq true"));
        assert!(m(r#"title eq 'x' or name.family eq 'Smith'"#));
    }

    #[test]
    fn logic_parentheses_and_member_of() {
        assert!(m(
            r#"((username eq "a") OR (username eq "alice.smith")) AND ((population.id eq "p1"))"#
        ));
        assert!(!m(
            r#"(username eq "alice.smith") and (population.id eq "p2")"#
        ));
        assert!(m(
            r#"memberOfGroups[id eq "g1"] and name.family eq "Smith""#
        ));
        assert!(!m(r#"memberOfGroups[id eq "g2"]"#));
        let e = parse(
            r#"name.family eq "x" and memberOfGroups[id eq "g9"]"#,
            &USERS,
        )
        .unwrap();
        assert_eq!(e.hint(), Some(Hint::MemberOf("g9")));
        let e = parse(
            r#"memberOfGroups[id eq "g9"] and username eq "Bob""#,
            &USERS,
        )
        .unwrap();
        assert_eq!(e.hint(), Some(Hint::Username("bob")));
        let e = parse(
            r#"(enabled eq true) and (id eq "b" or (id eq "a" or id eq "b"))"#,
            &USERS,
        )
        .unwrap();
        assert_eq!(e.hint(), Some(Hint::Ids(vec!["b", "a", "b"])));
        let e = parse(r#"id eq "a" or username eq "bob""#, &USERS).unwrap();
        assert_eq!(e.hint(), None);
    }

    #[test]
    fn escapes_in_strings() {
        let e = parse(r#"name.family eq "O\"Brien""#, &USERS).unwrap();
        assert_eq!(e.simple_eq("name.family"), Some("O\"Brien"));
    }

    #[test]
    fn rejects_unsupported_and_bad_syntax() {
        for f in [
            r#"username ne "a""#,
            r#"username gt "a""#,
            r#"not (username eq "a")"#,
            r#"username pr"#,
            r#"name.family co"#,
            r#"shoeSize eq "9""#,
            r#"email co "x""#,
            r#"username eq "a"#,
            r#"(username eq "a""#,
            r#"username eq "a" username"#,
            r#"memberOfGroups[name eq "x"]"#,
            r#"username == "a""#,
            "",
        ] {
            assert!(parse(f, &USERS).is_err(), "{f} should be refused");
        }
        assert!(parse(r#"memberOfGroups[id eq "g"]"#, &GROUPS).is_err());
        assert!(parse(r#"name sw "Tr""#, &GROUPS).is_ok());
        assert!(parse(r#"name co "Tr""#, &POPULATIONS).is_err());
    }

    #[test]
    fn schema_lists() {
        assert!(
            USERS
                .supported_attributes()
                .contains(&"memberOfGroups".to_string())
        );
        assert_eq!(
            USERS.supported_operators(),
            ["eq", "sw", "ew", "co", "and", "or"]
        );
    }
}
