//! Resource quantities (`100m`, `1.5`, `128Mi`, `1G`, `2e3`): parsing with Kubernetes' rules
//! and error messages, exact comparison, and canonical formatting.
//!
//! A [`Quantity`] holds its value as a whole number of nano-units (`i128`), which is exact for
//! every suffix Kubernetes accepts (`n` is the smallest, `Ei` the largest); finer fractions
//! are rounded away from zero, as Kubernetes does.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The regular expression quoted in Kubernetes' format error.
pub const QUANTITY_REGEX: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// Why a string is not a quantity; the messages are Kubernetes'.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantities must match the regular expression '{QUANTITY_REGEX}'")]
    FormatWrong,
    #[error("unable to parse quantity's suffix")]
    Suffix,
    #[error("unable to parse quantity's numeric value")]
    Numeric,
    #[error("quantity is too large to represent")]
    TooLarge,
}

/// How a quantity was written, which decides how it is printed back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Plain numbers and `n u m k M G T P E`.
    DecimalSI,
    /// `Ki Mi Gi Ti Pi Ei`.
    BinarySI,
    /// `1e3`, `2E-3`.
    DecimalExponent,
}

/// A parsed resource quantity.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

impl Quantity {
    /// Parse a quantity string such as `250m` or `1Gi`.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let (negative, rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            Some(_) => (false, s),
            None => return Err(QuantityError::FormatWrong),
        };
        let number_len = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let (number, suffix) = rest.split_at(number_len);
        if number.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        let suffix_ok = {
            let letters = suffix.trim_start_matches(|c: char| "eEinumkKMGTP".contains(c));
            let digits = letters.strip_prefix(['-', '+']).unwrap_or(letters);
            digits.bytes().all(|c| c.is_ascii_digit())
        };
        if !suffix_ok {
            return Err(QuantityError::FormatWrong);
        }
        let (format, exp10, exp2) = parse_suffix(suffix)?;
        let (mantissa, frac_digits, sticky) = parse_number(number)?;
        let mut nanos = scale(mantissa, i64::from(exp10) - frac_digits + 9, exp2)?;
        if sticky && nanos >= 0 {
            nanos = nanos.checked_add(1).ok_or(QuantityError::TooLarge)?;
        }
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }

    /// A quantity of `milli` thousandths, printed in decimal SI (`250m`).
    pub fn from_milli(milli: i64) -> Quantity {
        Quantity {
            nanos: i128::from(milli) * 1_000_000,
            format: Format::DecimalSI,
        }
    }

    /// The exact value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The format the quantity was written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The value in thousandths, rounded away from zero (`MilliValue` in Kubernetes), saturating.
    pub fn milli_value(&self) -> i64 {
        saturate(div_away_from_zero(self.nanos, 1_000_000))
    }

    /// The value in whole units, rounded away from zero (`Value` in Kubernetes), saturating.
    pub fn value(&self) -> i64 {
        saturate(div_away_from_zero(self.nanos, NANOS_PER_UNIT))
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }
}

fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

fn div_away_from_zero(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 {
        q
    } else if n < 0 {
        q - 1
    } else {
        q + 1
    }
}

/// Returns (format, power of ten, power of two).
fn parse_suffix(suffix: &str) -> Result<(Format, i32, u32), QuantityError> {
    let decimal = |e: i32| Ok((Format::DecimalSI, e, 0));
    let binary = |p: u32| Ok((Format::BinarySI, 0, p));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exp = suffix
                .strip_prefix(['e', 'E'])
                .ok_or(QuantityError::Suffix)?;
            let digits = exp.strip_prefix(['-', '+']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(QuantityError::Suffix);
            }
            let e: i32 = exp.parse().map_err(|_| QuantityError::Suffix)?;
            Ok((Format::DecimalExponent, e, 0))
        }
    }
}

/// Parses `123.456` into (123456, 3 fraction digits, whether non-zero digits were dropped).
fn parse_number(number: &str) -> Result<(i128, i64, bool), QuantityError> {
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => {
            if f.contains('.') {
                return Err(QuantityError::Suffix);
            }
            (i, f)
        }
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(QuantityError::Numeric);
    }
    let int_part = int_part.trim_start_matches('0');
    if int_part.len() > 36 {
        return Err(QuantityError::TooLarge);
    }
    // Keep at most enough fraction digits to fill 36 significant digits; remember if we drop
    // any non-zero digit so the result can be rounded up.
    let keep = frac_part.len().min(36 - int_part.len());
    let (kept, dropped) = frac_part.split_at(keep);
    let sticky = dropped.bytes().any(|c| c != b'0');
    let mut mantissa: i128 = 0;
    for c in int_part.bytes().chain(kept.bytes()) {
        mantissa = mantissa * 10 + i128::from(c - b'0');
    }
    let frac_digits = i64::try_from(kept.len()).map_err(|_| QuantityError::Numeric)?;
    Ok((mantissa, frac_digits, sticky))
}

/// mantissa × 10^exp10 × 2^exp2, rounded away from zero, in i128.
fn scale(mantissa: i128, exp10: i64, exp2: u32) -> Result<i128, QuantityError> {
    let mut v = mantissa
        .checked_mul(1i128 << exp2)
        .ok_or(QuantityError::TooLarge)?;
    if exp10 >= 0 {
        for _ in 0..exp10 {
            if v == 0 {
                break;
            }
            v = v.checked_mul(10).ok_or(QuantityError::TooLarge)?;
        }
        Ok(v)
    } else {
        let mut inexact = false;
        for _ in 0..(-exp10) {
            if v == 0 {
                break;
            }
            inexact |= v % 10 != 0;
            v /= 10;
        }
        Ok(if inexact { v + 1 } else { v })
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl fmt::Display for Quantity {
    /// Kubernetes' canonical form: `1500m`, `128Mi`, `1536`, `2e3`, `1k`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let whole = self.nanos % NANOS_PER_UNIT == 0;
        if self.format == Format::BinarySI && whole && self.nanos.abs() >= 1024 * NANOS_PER_UNIT {
            let mut n = self.nanos / NANOS_PER_UNIT;
            let mut power = 0;
            while n % 1024 == 0 && power < 6 {
                n /= 1024;
                power += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
            return write!(f, "{n}{suffix}");
        }
        // Decimal: the largest multiple-of-three exponent that keeps the mantissa whole.
        let mut exp = -9i32;
        let mut n = self.nanos;
        while exp < 18 && n % 1000 == 0 {
            n /= 1000;
            exp += 3;
        }
        if self.format == Format::DecimalExponent {
            return if exp == 0 {
                write!(f, "{n}")
            } else {
                write!(f, "{n}e{exp}")
            };
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        };
        write!(f, "{n}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn parses_the_usual_suffixes() {
        assert_eq!(q("100m").milli_value(), 100);
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("128Mi").value(), 128 * 1024 * 1024);
        assert_eq!(q("1G").value(), 1_000_000_000);
        assert_eq!(q("2e3").value(), 2000);
        assert_eq!(q("1Ki").value(), 1024);
        assert_eq!(q("0.5Gi").value(), 512 * 1024 * 1024);
        assert_eq!(q("-1").value(), -1);
        assert_eq!(q(".5").milli_value(), 500);
        assert_eq!(q("5.").value(), 5);
        assert_eq!(q("1n").nanos(), 1);
        assert_eq!(q("2E-3").milli_value(), 2);
    }

    #[test]
    fn compares_across_formats() {
        assert_eq!(q("1"), q("1000m"));
        assert_eq!(q("1k"), q("1e3"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("100m") < q("0.2"));
        assert!(q("128Mi") < q("1Gi"));
    }

    #[test]
    fn rounds_sub_nano_fractions_up() {
        assert_eq!(q("0.1n").nanos(), 1);
        assert_eq!(q("1.0000000001").nanos(), 1_000_000_001);
        assert_eq!(q("0.0001").milli_value(), 1);
    }

    #[test]
    fn rejects_garbage_with_kubernetes_messages() {
        let format = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
        assert_eq!(Quantity::parse("").unwrap_err().to_string(), format);
        assert_eq!(Quantity::parse("abc").unwrap_err().to_string(), format);
        assert_eq!(
            Quantity::parse("1 Gi").unwrap_err(),
            QuantityError::FormatWrong
        );
        assert_eq!(
            Quantity::parse("1Gb").unwrap_err(),
            QuantityError::FormatWrong
        );
        assert_eq!(
            Quantity::parse("1K").unwrap_err().to_string(),
            "unable to parse quantity's suffix"
        );
        assert_eq!(
            Quantity::parse("1MiB").unwrap_err(),
            QuantityError::FormatWrong
        );
        assert_eq!(Quantity::parse("1.2.3").unwrap_err(), QuantityError::Suffix);
        assert_eq!(Quantity::parse(".").unwrap_err(), QuantityError::Numeric);
        assert_eq!(Quantity::parse("1e").unwrap_err(), QuantityError::Suffix);
    }

    #[test]
    fn prints_canonical_forms() {
        assert_eq!(q("1.5").to_string(), "1500m");
        assert_eq!(q("100m").to_string(), "100m");
        assert_eq!(q("1000").to_string(), "1k");
        assert_eq!(q("128Mi").to_string(), "128Mi");
        assert_eq!(q("1024Ki").to_string(), "1Mi");
        assert_eq!(q("1536").to_string(), "1536");
        assert_eq!(q("1.5Ki").to_string(), "1536");
        assert_eq!(q("0.5Ki").to_string(), "512");
        assert_eq!(q("2e3").to_string(), "2e3");
        assert_eq!(q("0").to_string(), "0");
        assert_eq!(q("-100m").to_string(), "-100m");
        assert_eq!(Quantity::from_milli(250).to_string(), "250m");
    }
}
