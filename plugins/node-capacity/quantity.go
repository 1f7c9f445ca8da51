package main

import (
	"fmt"
	"math/big"
	"strings"
)

// Multipliers of the Kubernetes quantity suffixes: binary (Ki to Ei) and
// decimal SI (n to E). A quantity may instead end in a decimal exponent such
// as `e3`.
var quantitySuffixes = map[string]*big.Rat{
	"":   big.NewRat(1, 1),
	"n":  big.NewRat(1, 1_000_000_000),
	"u":  big.NewRat(1, 1_000_000),
	"m":  big.NewRat(1, 1_000),
	"k":  big.NewRat(1_000, 1),
	"M":  big.NewRat(1_000_000, 1),
	"G":  big.NewRat(1_000_000_000, 1),
	"T":  big.NewRat(1_000_000_000_000, 1),
	"P":  big.NewRat(1_000_000_000_000_000, 1),
	"E":  big.NewRat(1_000_000_000_000_000_000, 1),
	"Ki": big.NewRat(1<<10, 1),
	"Mi": big.NewRat(1<<20, 1),
	"Gi": big.NewRat(1<<30, 1),
	"Ti": big.NewRat(1<<40, 1),
	"Pi": big.NewRat(1<<50, 1),
	"Ei": big.NewRat(1<<60, 1),
}

// parseQuantity parses a Kubernetes resource quantity such as `500m`, `2`,
// `1.5Gi` or `129e6` into an exact rational number.
func parseQuantity(text string) (*big.Rat, error) {
	end := 0
	for end < len(text) && strings.ContainsRune("+-0123456789.", rune(text[end])) {
		end++
	}
	number, suffix := text[:end], text[end:]
	if number == "" || strings.Trim(number, "+-.") == "" {
		return nil, fmt.Errorf("invalid quantity %q: expected a number such as 500m or 1Gi", text)
	}
	value, ok := new(big.Rat).SetString(number)
	if !ok {
		return nil, fmt.Errorf("invalid quantity %q: %q is not a decimal number", text, number)
	}
	if multiplier, known := quantitySuffixes[suffix]; known {
		return value.Mul(value, multiplier), nil
	}
	if suffix[0] == 'e' || suffix[0] == 'E' {
		exponent, ok := new(big.Rat).SetString("1" + suffix)
		if ok {
			return value.Mul(value, exponent), nil
		}
	}
	return nil, fmt.Errorf("invalid quantity %q: unknown suffix %q", text, suffix)
}

// ceilScaled returns ceil(value * scale) as an int64, the way Kubernetes
// rounds a quantity up to whole bytes (scale 1) or millicores (scale 1000).
func ceilScaled(value *big.Rat, scale int64) int64 {
	scaled := new(big.Rat).Mul(value, big.NewRat(scale, 1))
	quotient, remainder := new(big.Int).QuoRem(scaled.Num(), scaled.Denom(), new(big.Int))
	if remainder.Sign() > 0 {
		quotient.Add(quotient, big.NewInt(1))
	}
	return quotient.Int64()
}

// parseMillicores parses a CPU quantity into millicores, rounded up.
func parseMillicores(text string) (int64, error) {
	value, err := parseQuantity(text)
	if err != nil {
		return 0, err
	}
	return ceilScaled(value, 1000), nil
}

// parseBytes parses a memory quantity into bytes, rounded up.
func parseBytes(text string) (int64, error) {
	value, err := parseQuantity(text)
	if err != nil {
		return 0, err
	}
	return ceilScaled(value, 1), nil
}
