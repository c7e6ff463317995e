//! Every activation linked into a binary, by run-time name, and activations written as
//! expressions (docs/architecture.md §4, §8).
//!
//! `#[activation]` registers the activation it declares (through `inventory`), so a user's crate
//! whose `main` is `aedyn::cli::main()` runs its own activations by name exactly as the built-ins.
//! A name that is not registered is read as an expression in `x` in the attribute's syntax and
//! derived at run time by the same library (`aedyn-symbolic`).

use crate::activation::Activation;
use crate::error::{Error, Result, config_err};
use crate::expression::ExprActivation;

/// One registered activation (submitted by the code `#[activation]` generates).
pub struct Registration(pub &'static dyn Activation);

inventory::collect!(Registration);

/// All registered activations, sorted by name.
pub fn registered() -> Vec<&'static dyn Activation> {
    let mut v: Vec<&'static dyn Activation> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| r.0)
        .collect();
    v.sort_by_key(|a| a.name());
    v
}

/// The registered activation called `name`; an error if two linked activations share it.
pub fn lookup(name: &str) -> Result<Option<&'static dyn Activation>> {
    let found: Vec<&'static dyn Activation> = registered()
        .into_iter()
        .filter(|a| a.name() == name)
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [a] => Ok(Some(*a)),
        many => Err(Error::Expression {
            expression: name.to_string(),
            message: format!(
                "{} linked activations share this name ({}); give one another with \
                 #[activation(name = \"...\")]",
                many.len(),
                many.iter()
                    .map(|a| a.expression())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// A registered activation by name, or else `spec` read as an expression in `x` and derived at
/// run time (`quadrature` allows the numerical fallback, as `#[activation(quadrature)]`).
/// Errors name `spec` ([`Error::Expression`]); [`resolve_key`] names a config key instead.
pub fn resolve(spec: &str, quadrature: bool) -> Result<&'static dyn Activation> {
    // surrounding whitespace is no part of a name (`" relu "` is relu)
    if let Some(a) = lookup(spec.trim())? {
        return Ok(a);
    }
    ExprActivation::derive(spec, quadrature)
        .map(|a| a as &'static dyn Activation)
        .map_err(|e| match e {
            Error::Expression { message, .. } => Error::Expression {
                expression: spec.to_string(),
                message: format!(
                    "neither a registered activation ({}) nor a supported expression: {message}",
                    registered()
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            e => e,
        })
}

/// [`resolve`] for the value of config key `key` (`activation`, `teacher.activation`): its
/// errors are the key's.
pub fn resolve_key(key: &str, spec: &str, quadrature: bool) -> Result<&'static dyn Activation> {
    resolve(spec, quadrature).map_err(|e| match e {
        Error::Expression { message, .. } => config_err(key, format!("\"{spec}\""), &message),
        e => e,
    })
}

#[cfg(test)]
mod tests {
    /// A name with surrounding whitespace is the name (`aedyn integrals ' relu '`), and an
    /// expression keeps its own spacing.
    #[test]
    fn names_are_trimmed() {
        assert_eq!(super::resolve(" relu ", false).unwrap().name(), "relu");
        assert_eq!(super::resolve("\terf\n", false).unwrap().name(), "erf");
        assert!(super::resolve(" x * erf(x) ", false).is_ok());
    }
}
