"""Generate the synthetic short-term rental samples shipped with this example.

The files have exactly the columns of the public NYC listings file (AB_NYC_2019.csv) and the
realistic flaws a cleaning step has to deal with: exact duplicate rows, price outliers (0 and
above 5,000), missing values (``name``, ``host_name``, ``last_review``/``reviews_per_month`` for
listings without reviews) and a few points outside the city.

``sample1.csv`` is the training sample. ``sample2.csv`` comes from a shifted market (other
borough shares, higher prices): the data check's KL test must flag it.

The output is a pure function of the arguments (numpy's PCG64 seeded generator, rows written
with explicit formatting), so regenerating gives byte-identical files::

    python generate.py                      # writes sample1.csv and sample2.csv next to this file
    python generate.py --variant 2 --rows 500 --out /tmp/small.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import logging
import math
from pathlib import Path

import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
logger = logging.getLogger()

COLUMNS = [
    "id", "name", "host_id", "host_name", "neighbourhood_group", "neighbourhood", "latitude",
    "longitude", "room_type", "price", "minimum_nights", "number_of_reviews", "last_review",
    "reviews_per_month", "calculated_host_listings_count", "availability_365",
]  # fmt: skip

# borough -> (share in sample 1, share in sample 2, price multiplier)
BOROUGHS = {
    "Manhattan": (0.44, 0.22, 1.30),
    "Brooklyn": (0.41, 0.30, 1.00),
    "Queens": (0.12, 0.28, 0.82),
    "Bronx": (0.022, 0.13, 0.72),
    "Staten Island": (0.008, 0.07, 0.78),
}

# neighbourhood -> (borough, latitude, longitude, weight within borough, price multiplier)
NEIGHBOURHOODS = {
    "Harlem": ("Manhattan", 40.8116, -73.9465, 10, 0.80),
    "Upper West Side": ("Manhattan", 40.7870, -73.9754, 8, 1.05),
    "Upper East Side": ("Manhattan", 40.7736, -73.9566, 7, 1.00),
    "Midtown": ("Manhattan", 40.7549, -73.9840, 6, 1.30),
    "Hell's Kitchen": ("Manhattan", 40.7638, -73.9918, 8, 1.15),
    "Chelsea": ("Manhattan", 40.7465, -74.0014, 5, 1.25),
    "East Village": ("Manhattan", 40.7265, -73.9815, 8, 1.05),
    "Lower East Side": ("Manhattan", 40.7150, -73.9843, 4, 1.00),
    "West Village": ("Manhattan", 40.7358, -74.0036, 3, 1.35),
    "Financial District": ("Manhattan", 40.7075, -74.0089, 3, 1.30),
    "Washington Heights": ("Manhattan", 40.8417, -73.9394, 5, 0.70),
    "East Harlem": ("Manhattan", 40.7957, -73.9389, 5, 0.80),
    "Williamsburg": ("Brooklyn", 40.7081, -73.9571, 18, 1.15),
    "Bedford-Stuyvesant": ("Brooklyn", 40.6872, -73.9418, 18, 0.85),
    "Bushwick": ("Brooklyn", 40.6958, -73.9171, 11, 0.80),
    "Crown Heights": ("Brooklyn", 40.6694, -73.9422, 8, 0.85),
    "Greenpoint": ("Brooklyn", 40.7304, -73.9515, 5, 1.05),
    "Park Slope": ("Brooklyn", 40.6710, -73.9814, 4, 1.15),
    "Fort Greene": ("Brooklyn", 40.6920, -73.9742, 3, 1.15),
    "Clinton Hill": ("Brooklyn", 40.6897, -73.9661, 3, 1.05),
    "Flatbush": ("Brooklyn", 40.6409, -73.9624, 4, 0.75),
    "Prospect Heights": ("Brooklyn", 40.6775, -73.9692, 2, 1.05),
    "Astoria": ("Queens", 40.7644, -73.9235, 9, 0.95),
    "Long Island City": ("Queens", 40.7447, -73.9485, 5, 1.20),
    "Flushing": ("Queens", 40.7675, -73.8331, 5, 0.80),
    "Ridgewood": ("Queens", 40.7043, -73.9018, 4, 0.85),
    "Sunnyside": ("Queens", 40.7433, -73.9196, 3, 0.85),
    "Jamaica": ("Queens", 40.7027, -73.7890, 3, 0.80),
    "Jackson Heights": ("Queens", 40.7557, -73.8831, 3, 0.85),
    "Mott Haven": ("Bronx", 40.8091, -73.9229, 3, 0.95),
    "Concourse": ("Bronx", 40.8271, -73.9236, 3, 0.90),
    "Kingsbridge": ("Bronx", 40.8834, -73.9051, 2, 0.95),
    "Fordham": ("Bronx", 40.8615, -73.8906, 2, 0.85),
    "St. George": ("Staten Island", 40.6437, -74.0736, 3, 1.00),
    "Tompkinsville": ("Staten Island", 40.6366, -74.0801, 2, 0.90),
    "Stapleton": ("Staten Island", 40.6271, -74.0777, 1, 0.95),
}

# room type -> (share, base nightly price in USD, min-nights scale)
ROOM_TYPES = {
    "Entire home/apt": (0.52, 150.0, 4.0),
    "Private room": (0.455, 72.0, 2.5),
    "Shared room": (0.025, 45.0, 2.0),
}

ADJECTIVES = [
    ("Cozy", 0.95), ("Sunny", 1.02), ("Spacious", 1.12), ("Charming", 1.0), ("Modern", 1.08),
    ("Quiet", 0.98), ("Bright", 1.03), ("Luxury", 1.45), ("Beautiful", 1.05), ("Huge", 1.2),
    ("Stylish", 1.08), ("Clean", 0.95), ("Budget", 0.75), ("Renovated", 1.1), ("Penthouse", 1.7),
]  # fmt: skip
UNITS = {
    "Entire home/apt": [("Studio", 0.85), ("1BR apt", 1.0), ("2BR apt", 1.35), ("3BR loft", 1.7),
                        ("Loft", 1.15), ("Townhouse", 1.6), ("Apartment", 1.0)],
    "Private room": [("Private room", 1.0), ("Room", 0.95), ("Bedroom", 1.0),
                     ("Room w/ private bath", 1.2), ("Master bedroom", 1.15)],
    "Shared room": [("Shared room", 1.0), ("Bunk bed", 0.8), ("Couch", 0.7)],
}  # fmt: skip
PLACES = ["in", "near", "by", "in the heart of", "close to subway in"]
FIRST_NAMES = [
    "Michael", "David", "John", "Alex", "Sarah", "Maria", "Daniel", "Jessica", "Anna", "Chris",
    "Laura", "James", "Emily", "Mike", "Sonder (NYC)", "Blueground", "Kevin", "Jennifer", "Carlos",
    "Sophie", "Yuki", "Wei", "Olga", "Ahmed", "Fatima", "Luca", "Nina", "Omar", "Grace", "Ben",
]  # fmt: skip

MIDTOWN = (40.7549, -73.9840)
FIRST_REVIEW = dt.date(2011, 5, 12)
LAST_REVIEW = dt.date(2019, 7, 8)


def _choice(rng: np.random.Generator, weights: list[float], size: int) -> np.ndarray:
    """Draw ``size`` indices with the given (unnormalised) weights."""
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def generate(rows: int, variant: int, seed: int) -> list[list[str]]:
    """Return the sample as rows of strings (header not included)."""
    rng = np.random.default_rng([seed, variant])
    boroughs = list(BOROUGHS)
    shares = [BOROUGHS[b][variant - 1] for b in boroughs]
    n_base = rows - max(rows // 400, 1)  # the rest are planted duplicates
    borough_idx = _choice(rng, shares, n_base)

    room_names = list(ROOM_TYPES)
    room_idx = _choice(rng, [ROOM_TYPES[r][0] for r in room_names], n_base)

    hoods_by_borough = {b: [h for h, v in NEIGHBOURHOODS.items() if v[0] == b] for b in boroughs}
    n_hosts = max(n_base * 5 // 6, 1)
    host_ids = np.sort(rng.choice(np.arange(2_000, 275_000_000), size=n_hosts, replace=False))
    ids = np.sort(rng.choice(np.arange(2_539, 36_500_000), size=n_base, replace=False))
    host_of = rng.integers(0, n_hosts, size=n_base)
    # a few professional hosts own many listings
    pro = rng.random(n_base) < 0.06
    host_of[pro] = rng.integers(0, 12, size=int(pro.sum()))
    listings_per_host = np.bincount(host_of, minlength=n_hosts)

    out: list[list[str]] = []
    days_span = (LAST_REVIEW - FIRST_REVIEW).days
    for i in range(n_base):
        borough = boroughs[borough_idx[i]]
        hoods = hoods_by_borough[borough]
        hood = hoods[_choice(rng, [NEIGHBOURHOODS[h][3] for h in hoods], 1)[0]]
        _, lat0, lon0, _, hood_mult = NEIGHBOURHOODS[hood]
        lat = lat0 + rng.normal(0, 0.009)
        lon = lon0 + rng.normal(0, 0.011)
        room = room_names[room_idx[i]]
        _, base, nights_scale = ROOM_TYPES[room]

        adj, adj_mult = ADJECTIVES[rng.integers(len(ADJECTIVES))]
        unit, unit_mult = UNITS[room][rng.integers(len(UNITS[room]))]
        place = PLACES[rng.integers(len(PLACES))]
        name = f"{adj} {unit} {place} {hood}"

        dist_km = math.hypot((lat - MIDTOWN[0]) * 111.0, (lon - MIDTOWN[1]) * 84.0)
        nights = int(min(rng.geometric(1.0 / nights_scale), 365))
        if rng.random() < 0.08:
            nights = 30
        availability = int(rng.integers(0, 366)) if rng.random() > 0.35 else 0
        log_price = (
            math.log(base)
            + math.log(BOROUGHS[borough][2] * hood_mult * adj_mult * unit_mult)
            - 0.018 * dist_km
            + 0.0006 * availability
            - 0.004 * min(nights, 30)
            + (0.12 if variant == 2 else 0.0)
            + rng.normal(0, 0.22)
        )
        price = max(round(math.exp(log_price)), 10)

        n_reviews = int(rng.negative_binomial(0.6, 0.03)) if rng.random() > 0.1 else 0
        if n_reviews:
            recency = rng.beta(4.0, 1.2)
            last = FIRST_REVIEW + dt.timedelta(days=int(recency * days_span))
            age_months = max(((LAST_REVIEW - last).days + 30 * rng.integers(3, 60)) / 30.0, 1.0)
            last_review = last.isoformat()
            per_month = f"{min(n_reviews / age_months + 0.01, 20.0):.2f}"
        else:
            last_review, per_month = "", ""

        host = int(host_of[i])
        out.append(
            [
                str(int(ids[i])),
                name,
                str(int(host_ids[host])),
                FIRST_NAMES[host % len(FIRST_NAMES)],
                borough,
                hood,
                f"{lat:.5f}",
                f"{lon:.5f}",
                room,
                str(price),
                str(nights),
                str(n_reviews),
                last_review,
                per_month,
                str(int(listings_per_host[host])),
                str(availability),
            ]
        )

    _plant_flaws(rng, out, rows - n_base)
    return out


def _plant_flaws(rng: np.random.Generator, out: list[list[str]], n_duplicates: int) -> None:
    """Plant the flaws a cleaning step must handle, in place."""
    n = len(out)
    price_col, lat_col, lon_col = COLUMNS.index("price"), COLUMNS.index("latitude"), 7
    picks = rng.choice(n, size=max(n // 500, 4) + max(n // 2000, 2) + max(n // 4000, 2) + 15,
                       replace=False)  # fmt: skip
    cursor = 0

    def take(k: int) -> np.ndarray:
        nonlocal cursor
        sel = picks[cursor : cursor + k]
        cursor += k
        return sel

    for i in take(max(n // 2000, 2)):  # free listings
        out[i][price_col] = "0"
    for i in take(max(n // 4000, 2)):  # absurd prices
        out[i][price_col] = str(int(rng.integers(5_001, 10_001)))
    for i in take(max(n // 500, 4)):  # points outside the city (bad geocoding)
        out[i][lat_col] = f"{rng.uniform(39.6, 40.45):.5f}"
        out[i][lon_col] = f"{rng.uniform(-74.9, -74.3):.5f}"
    for i in take(7):
        out[i][COLUMNS.index("name")] = ""
    for i in take(8):
        out[i][COLUMNS.index("host_name")] = ""
    # exact duplicates, inserted right after their originals (as a scraper re-reading a page would)
    for i in sorted(rng.choice(n, size=n_duplicates, replace=False).tolist(), reverse=True):
        out.insert(i + 1, list(out[i]))


def write(rows: list[list[str]], path: Path) -> None:
    """Write the rows with a header, ``\\n`` line endings and minimal quoting."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def main() -> None:
    """Parse the arguments and write the requested sample(s)."""
    parser = argparse.ArgumentParser(description="Generate synthetic NYC short-term rental samples")
    parser.add_argument(
        "--variant",
        type=int,
        choices=[1, 2],
        default=None,
        help="1 = training sample, 2 = shifted sample; default: write both",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="number of rows (default 20000 for sample 1, 18000 for sample 2)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output file (one variant) or directory (both variants)",
    )
    args = parser.parse_args()  # fmt: skip

    variants = [args.variant] if args.variant else [1, 2]
    default_rows = {1: 20_000, 2: 18_000}
    here = Path(__file__).resolve().parent
    for variant in variants:
        rows = args.rows or default_rows[variant]
        if args.out is None:
            path = here / f"sample{variant}.csv"
        elif args.out.suffix == ".csv":
            path = args.out
        else:
            path = args.out / f"sample{variant}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        write(generate(rows, variant, args.seed), path)
        logger.info("Wrote %s (%d rows, %d bytes)", path, rows, path.stat().st_size)


if __name__ == "__main__":
    main()
