import { uuidv7 } from "../engine/ids.js";
import type { Pool } from "../sql/db.js";
import { insertGeneratedEvents, type GeneratedEventRow } from "../sql/search.js";

// Realistic catalog data for search: performers and shows in many languages (accents,
// non-Latin scripts), real venues with their cities and time zones, evening start times in
// local time over the next two years. Seeded, so a benchmark can be rerun on the same data.

/** Rows in one multi-row INSERT. */
export const GENERATE_BATCH_MAX = 5000;

const PERFORMERS = [
  "Taylor Swift",
  "Beyoncé",
  "Coldplay",
  "Ed Sheeran",
  "Adele",
  "Bad Bunny",
  "Rosalía",
  "Stromae",
  "Björk",
  "Sigur Rós",
  "Mötley Crüe",
  "Die Toten Hosen",
  "Rammstein",
  "Ludovico Einaudi",
  "Andrea Bocelli",
  "BTS",
  "BLACKPINK",
  "宇多田ヒカル",
  "YOASOBI",
  "Daft Punk",
  "Christine and the Queens",
  "Zaz",
  "Céline Dion",
  "Shakira",
  "Karol G",
  "Måneskin",
  "ABBA Voyage",
  "Metallica",
  "Billie Eilish",
  "Dua Lipa",
  "Arctic Monkeys",
  "Kendrick Lamar",
  "The Weeknd",
  "Olivia Rodrigo",
  "Harry Styles",
  "Bruce Springsteen",
  "Elton John",
  "Les Misérables",
  "Hamilton",
  "Le Roi Lion",
  "Cirque du Soleil",
  "Wiener Philharmoniker",
  "Anne-Sophie Mutter",
  "Lang Lang",
  "Yuja Wang",
  "Ибица Фест",
  "Полина Гагарина",
  "Ólafur Arnalds",
  "Tiësto",
  "Martin Garrix",
  "Aitana",
  "Peso Pluma",
  "Burna Boy",
  "Wizkid",
  "Tame Impala",
  "Fred again..",
  "Khruangbin",
  "Søren Juul",
  "Ninho",
  "Angèle",
  "Zucchero",
  "Laura Pausini",
  "Vasco Rossi",
  "Herbert Grönemeyer",
  "Helene Fischer",
];
const SHOWS = [
  "World Tour",
  "Live",
  "in Concert",
  "Stadium Tour",
  "Unplugged",
  "Farewell Tour",
  "Arena Tour",
  "Live 2027",
  "Greatest Hits",
  "Acoustic Night",
  "Summer Festival",
  "Open Air",
  "Symphonic Night",
  "Tour Mondiale",
  "En Vivo",
];
const SPORTS = [
  "FC Barcelona vs Real Madrid",
  "Manchester United vs Liverpool",
  "Bayern München vs Borussia Dortmund",
  "Lakers vs Celtics",
  "Yankees vs Red Sox",
  "Paris Saint-Germain vs Olympique de Marseille",
  "Juventus vs Inter",
  "Galatasaray vs Fenerbahçe",
  "Flamengo vs Fluminense",
  "Kashima Antlers vs Urawa Reds",
];

interface Place {
  city: string;
  timeZone: string;
  currency: string;
  venues: string[];
}

const PLACES: Place[] = [
  {
    city: "London",
    timeZone: "Europe/London",
    currency: "gbp",
    venues: ["Wembley Stadium", "The O2", "Royal Albert Hall", "Hammersmith Apollo"],
  },
  {
    city: "Paris",
    timeZone: "Europe/Paris",
    currency: "eur",
    venues: ["Stade de France", "Accor Arena", "L'Olympia", "Zénith Paris", "Café de la Danse"],
  },
  {
    city: "Berlin",
    timeZone: "Europe/Berlin",
    currency: "eur",
    venues: ["Olympiastadion", "Uber Arena", "Waldbühne", "Philharmonie"],
  },
  {
    city: "München",
    timeZone: "Europe/Berlin",
    currency: "eur",
    venues: ["Allianz Arena", "Olympiahalle", "Tonhalle"],
  },
  {
    city: "Madrid",
    timeZone: "Europe/Madrid",
    currency: "eur",
    venues: ["Santiago Bernabéu", "WiZink Center", "Teatro Real"],
  },
  {
    city: "Barcelona",
    timeZone: "Europe/Madrid",
    currency: "eur",
    venues: ["Spotify Camp Nou", "Palau Sant Jordi", "Palau de la Música Catalana"],
  },
  {
    city: "Milano",
    timeZone: "Europe/Rome",
    currency: "eur",
    venues: ["Stadio San Siro", "Mediolanum Forum", "Teatro alla Scala"],
  },
  { city: "Reykjavík", timeZone: "Atlantic/Reykjavik", currency: "isk", venues: ["Harpa", "Laugardalshöll"] },
  { city: "İstanbul", timeZone: "Europe/Istanbul", currency: "try", venues: ["Ülker Sports Arena", "Rams Park"] },
  { city: "Москва", timeZone: "Europe/Moscow", currency: "rub", venues: ["Лужники", "ВТБ Арена"] },
  {
    city: "New York",
    timeZone: "America/New_York",
    currency: "usd",
    venues: ["Madison Square Garden", "MetLife Stadium", "Radio City Music Hall", "Yankee Stadium"],
  },
  {
    city: "Los Angeles",
    timeZone: "America/Los_Angeles",
    currency: "usd",
    venues: ["SoFi Stadium", "Crypto.com Arena", "Hollywood Bowl", "The Forum"],
  },
  {
    city: "Chicago",
    timeZone: "America/Chicago",
    currency: "usd",
    venues: ["Soldier Field", "United Center", "Wrigley Field"],
  },
  {
    city: "Ciudad de México",
    timeZone: "America/Mexico_City",
    currency: "mxn",
    venues: ["Estadio Azteca", "Foro Sol", "Palacio de los Deportes"],
  },
  {
    city: "São Paulo",
    timeZone: "America/Sao_Paulo",
    currency: "brl",
    venues: ["Allianz Parque", "Estádio do Morumbi"],
  },
  { city: "Rio de Janeiro", timeZone: "America/Sao_Paulo", currency: "brl", venues: ["Maracanã", "Jeunesse Arena"] },
  {
    city: "Buenos Aires",
    timeZone: "America/Argentina/Buenos_Aires",
    currency: "ars",
    venues: ["Estadio River Plate", "Movistar Arena", "Teatro Colón"],
  },
  {
    city: "東京",
    timeZone: "Asia/Tokyo",
    currency: "jpy",
    venues: ["東京ドーム", "日本武道館", "Saitama Super Arena"],
  },
  {
    city: "Seoul",
    timeZone: "Asia/Seoul",
    currency: "krw",
    venues: ["Jamsil Olympic Stadium", "KSPO Dome", "Gocheok Sky Dome"],
  },
  {
    city: "Singapore",
    timeZone: "Asia/Singapore",
    currency: "sgd",
    venues: ["National Stadium", "Singapore Indoor Stadium"],
  },
  {
    city: "Sydney",
    timeZone: "Australia/Sydney",
    currency: "aud",
    venues: ["Accor Stadium", "Qudos Bank Arena", "Sydney Opera House"],
  },
  { city: "Auckland", timeZone: "Pacific/Auckland", currency: "nzd", venues: ["Eden Park", "Spark Arena"] },
  {
    city: "Lagos",
    timeZone: "Africa/Lagos",
    currency: "ngn",
    venues: ["Eko Convention Centre", "Teslim Balogun Stadium"],
  },
  { city: "Johannesburg", timeZone: "Africa/Johannesburg", currency: "zar", venues: ["FNB Stadium", "Ticketpro Dome"] },
  { city: "Mumbai", timeZone: "Asia/Kolkata", currency: "inr", venues: ["DY Patil Stadium", "NSCI Dome"] },
  { city: "Kathmandu", timeZone: "Asia/Kathmandu", currency: "npr", venues: ["Dasharath Stadium"] },
  { city: "Honolulu", timeZone: "Pacific/Honolulu", currency: "usd", venues: ["Aloha Stadium", "Blaisdell Arena"] },
];

/** A catalog event as the generator makes it: start given as wall-clock time where it happens. */
export type GeneratedEvent = GeneratedEventRow;

/** mulberry32: small, fast, seedable; plenty for test data. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const pad = (n: number) => String(n).padStart(2, "0");

function eventGenerator(seed: number, fromMs = Date.now()): () => GeneratedEvent {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  return () => {
    const place = pick(PLACES);
    const sport = random() < 0.12;
    const name = sport ? pick(SPORTS) : `${pick(PERFORMERS)} – ${pick(SHOWS)}`;
    const day = new Date(fromMs + Math.floor(random() * 730) * 86_400_000);
    const hour = 18 + Math.floor(random() * 5);
    const minute = pick([0, 0, 15, 30, 30, 45]);
    return {
      id: uuidv7(),
      name,
      venue: `${pick(place.venues)}, ${place.city}`,
      localStart: `${day.getUTCFullYear()}-${pad(day.getUTCMonth() + 1)}-${pad(day.getUTCDate())} ${pad(hour)}:${pad(minute)}`,
      timeZone: place.timeZone,
      capacity: pick([500, 2_000, 5_000, 15_000, 20_000, 60_000, 90_000]),
      price: 1_000 + Math.floor(random() * 300) * 100,
      currency: place.currency,
      maxPerUser: pick([2, 4, 6, 8]),
    };
  };
}

/** Inserts events in one statement (arrays unnested in SQL); catalog rows, not loaded into Redis. */
export async function insertGenerated(pool: Pool, events: GeneratedEvent[]): Promise<void> {
  if (events.length > GENERATE_BATCH_MAX)
    throw new Error(`at most ${GENERATE_BATCH_MAX} events per insert, got ${events.length}`);
  await insertGeneratedEvents(pool, events);
}

/** Generates and inserts `count` events in batches, reporting progress after each batch. */
export async function generateEvents(
  pool: Pool,
  opts: { count: number; seed: number; batch: number; onProgress?: (done: number) => void },
): Promise<void> {
  const next = eventGenerator(opts.seed);
  const batch = Math.min(opts.batch, GENERATE_BATCH_MAX);
  for (let done = 0; done < opts.count; ) {
    const size = Math.min(batch, opts.count - done);
    await insertGenerated(pool, Array.from({ length: size }, next));
    done += size;
    opts.onProgress?.(done);
  }
}
