// Money is kept as a whole number of the currency's minor units, by its ISO 4217 exponent:
// 1999 JPY is ¥1,999, 1999 EUR cents €19.99, 1234 KWD fils KWD 1.234. Intl's currency data
// (CLDR) differs from ISO 4217 for a few codes (it shows IDR and HUF without decimals), so
// the exponents are ISO's, listed here where they are not 2.

const ISO_4217_EXPONENTS: Readonly<Record<string, number>> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  CLF: 4,
  UYW: 4,
};

const CURRENCY_CODE = /^[A-Z]{3}$/;

/** Digits after the decimal point of the currency (its ISO 4217 exponent). */
export function minorDigits(currency: string): number {
  const code = currency.toUpperCase();
  if (!CURRENCY_CODE.test(code)) throw new RangeError(`${JSON.stringify(currency)} is not an ISO 4217 currency code`);
  return ISO_4217_EXPONENTS[code] ?? 2;
}

/** How a person reads an amount: 1999 JPY → "¥1,999", 1999 EUR → "€19.99". */
export function formatMoney(amountMinor: number, currency: string, locale = "en"): string {
  if (!Number.isSafeInteger(amountMinor)) throw new RangeError(`${amountMinor} is not a whole number of minor units`);
  const digits = minorDigits(currency);
  const format = new Intl.NumberFormat(locale, {
    style: "currency",
    currency: currency.toUpperCase(),
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return format.format(amountMinor / 10 ** digits);
}
