"""The platform's synthetic priors for residential construction in California. Pure data.

Every figure is a synthetic prior: a round number inside the ranges that public consumer cost
guides and remodelling cost surveys report for California (2023-2024), chosen so that the tiers
span those ranges. They are starting points that outcomes correct (calibration.py); the reasoning
behind each figure is in docs/estimation.md. Costs are in USD, timelines in calendar weeks of
construction from permit issue (design and plan-check waiting excluded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REGIONS: tuple[str, ...] = ("SoCal - Coastal", "SoCal - Inland", "NorCal", "Central Coast")
# Coastal Southern California is the reference (1.00); inland labour and land costs are lower,
# Northern California (outside the core Bay Area) and the Central Coast sit in between.
BASE_MULTIPLIERS: dict[str, float] = {"SoCal - Coastal": 1.00, "SoCal - Inland": 0.85, "NorCal": 0.90,
                                      "Central Coast": 0.95}
DEFAULT_CV = 0.25
SOURCE = "Synthetic prior from public California cost-guide ranges (2023-2024); corrected by outcomes"


@dataclass(frozen=True)
class TierPrior:
    suffix: str  # "Basic", "Midrange", ...
    p50: float  # target median cost; mean_cost follows from it and cv
    timeline_weeks: float  # mean (normal timeline)
    description: str
    attributes: dict[str, Any]
    keywords: tuple[str, ...] = ()
    cv: float = DEFAULT_CV

    @property
    def mean_cost(self) -> float:
        # lognormal: median = mean / sqrt(1 + cv^2)
        return float(self.p50 * (1.0 + self.cv**2) ** 0.5)

    @property
    def tier(self) -> str:
        return str(self.attributes["tier"])


@dataclass(frozen=True)
class SubcategoryPrior:
    category: str
    subcategory: str
    label: str
    keywords: tuple[str, ...]
    description: str
    tiers: tuple[TierPrior, ...]
    breakdown: dict[str, float]
    regional_multipliers: dict[str, float]
    typical_size_sqft: float
    size_exponent: float
    size_bounds: tuple[float, float]
    addons: dict[str, tuple[float, str]]  # bool attribute -> (cost multiplier when present, label)
    materials: dict[str, float]  # material -> relative installed cost; ratio to the class's own material
    required: tuple[str, ...]  # attribute keys to ask for, most informative first
    assumptions: tuple[str, ...]
    risks: tuple[str, ...]
    validation_source: str = SOURCE
    # categorical attributes other than material: attribute -> value -> relative cost
    variants: dict[str, dict[str, float]] = field(default_factory=dict)


def _mult(**over: float) -> dict[str, float]:
    names = {"coastal": "SoCal - Coastal", "inland": "SoCal - Inland", "norcal": "NorCal", "central": "Central Coast"}
    out = dict(BASE_MULTIPLIERS)
    for k, v in over.items():
        out[names[k]] = v
    return out


POOL = SubcategoryPrior(
    category="construction", subcategory="pool", label="Residential Pool",
    keywords=("pool", "swimming pool", "inground pool", "in-ground pool", "gunite", "shotcrete", "fiberglass pool",
              "plunge pool", "lap pool", "spool", "backyard pool", "pool build", "pool installation", "saltwater pool",
              "infinity pool", "pool deck", "pool and spa", "swim"),
    description="In-ground residential swimming pool: excavation, steel, gunite shell, plumbing, equipment, "
                "coping, interior finish and a basic deck.",
    tiers=(
        TierPrior("Basic", 35_000, 7.0, "Small or plunge in-ground pool, plaster finish, basic pump and filter.",
                  {"tier": "basic", "typical_size_sqft": 300, "size_range": "10x20 to 12x25 ft", "depth": "3.5-5 ft",
                   "finish": "plaster", "includes_spa": False, "heating": False},
                  ("plunge pool", "small pool", "spool", "cocktail pool")),
        TierPrior("Midrange", 55_000, 9.0, "Standard gunite pool, pebble or quartz finish, variable-speed pump.",
                  {"tier": "midrange", "typical_size_sqft": 450, "size_range": "15x30 to 16x32 ft", "depth": "4-6 ft",
                   "finish": "quartz", "includes_spa": False, "heating": False},
                  ("standard pool", "family pool")),
        TierPrior("Premium", 85_000, 11.0, "Larger custom pool with pebble finish, heater, tile and paver deck.",
                  {"tier": "premium", "typical_size_sqft": 600, "size_range": "18x36 to 20x40 ft", "depth": "4-8 ft",
                   "finish": "pebble", "includes_spa": False, "heating": True},
                  ("custom pool", "pebble tec", "tanning ledge")),
        TierPrior("Luxury", 135_000, 15.0, "Large custom pool with attached spa, heating, water features and "
                  "automation.", {"tier": "luxury", "typical_size_sqft": 800, "size_range": "20x40 ft and up",
                                  "depth": "3.5-8 ft", "finish": "pebble", "includes_spa": True, "heating": True},
                  ("infinity pool", "negative edge", "resort style", "water features")),
    ),
    breakdown={"materials": 0.40, "labor": 0.30, "equipment": 0.10, "permits": 0.05, "design": 0.05,
               "contingency": 0.10},
    regional_multipliers=_mult(),
    typical_size_sqft=450, size_exponent=0.6, size_bounds=(150, 1500),
    addons={"includes_spa": (1.25, "Attached spa"), "heating": (1.07, "Pool heating (heat pump or gas)"),
            "automatic_cover": (1.12, "Automatic safety cover"),
            "demolition": (1.15, "Removal of an existing pool or structure")},
    materials={},
    required=("size_sqft", "quality", "includes_spa", "region"),
    assumptions=("Standard soil conditions and normal excavation access", "No existing structure removal",
                 "Standard permit process", "Equipment: pump, filter and basic automation"),
    risks=("Rock or hardpan soil could add $5-15k", "Permit or HOA delays could add 2-4 weeks",
           "Limited backyard access (crane or small equipment) could add $3-10k",
           "Electrical panel upgrade for equipment could add $2-5k"),
)

ADU = SubcategoryPrior(
    category="construction", subcategory="adu", label="ADU Construction",
    keywords=("adu", "accessory dwelling unit", "granny flat", "backyard cottage", "in-law unit", "in law unit",
              "guest house", "casita", "garage conversion", "convert garage", "jadu", "junior adu", "secondary unit",
              "backyard home", "rental unit", "tiny house", "studio", "second unit", "carriage house"),
    description="Accessory dwelling unit: design, permits, site work, foundation, framing, utilities and "
                "finishes for a self-contained home on the lot.",
    tiers=(
        TierPrior("Basic", 120_000, 22.0, "Compact studio or one-bedroom ADU with standard finishes.",
                  {"tier": "basic", "typical_size_sqft": 450, "size_range": "350-550 sq ft", "adu_type": "detached",
                   "stories": 1, "bedrooms": "studio-1"}, ("studio", "small adu", "tiny house")),
        TierPrior("Midrange", 180_000, 28.0, "One- or two-bedroom detached ADU with mid-grade finishes.",
                  {"tier": "midrange", "typical_size_sqft": 700, "size_range": "600-800 sq ft",
                   "adu_type": "detached", "stories": 1, "bedrooms": "1-2"}, ("two bedroom", "one bedroom")),
        TierPrior("Premium", 250_000, 36.0, "Two-bedroom ADU near the 1,000 sq ft mark with high-end finishes.",
                  {"tier": "premium", "typical_size_sqft": 1000, "size_range": "850-1,200 sq ft",
                   "adu_type": "detached", "stories": 1, "bedrooms": "2"}, ("custom adu", "high-end adu")),
    ),
    breakdown={"design": 0.07, "permits_fees": 0.06, "site_work": 0.10, "foundation": 0.10, "framing_shell": 0.22,
               "mep": 0.15, "finishes": 0.20, "contingency": 0.10},
    regional_multipliers=_mult(norcal=0.95),
    typical_size_sqft=700, size_exponent=0.8, size_bounds=(250, 1200),
    addons={"demolition": (1.05, "Removal of an existing shed or structure")},
    materials={},
    variants={"adu_type": {"detached": 1.0, "attached": 0.88, "garage_conversion": 0.55},
              "stories": {"1": 1.0, "2": 1.08, "3": 1.15}},
    required=("adu_type", "size_sqft", "quality", "region"),
    assumptions=("Flat lot with reachable utilities", "Standard city permit and impact-fee schedule",
                 "Stock plans adapted rather than fully custom architecture", "Slab-on-grade foundation",
                 "Timeline counts from permit issue; plan check usually takes 2-4 months before it"),
    risks=("Utility trenching or a new sewer lateral could add $10-30k", "Sloped lot or poor soil could add $15-40k",
           "Plan-check corrections could add 4-8 weeks", "Fire sprinkler requirement could add $5-10k"),
)

KITCHEN = SubcategoryPrior(
    category="construction", subcategory="kitchen_remodel", label="Kitchen Remodel",
    keywords=("kitchen", "kitchen remodel", "kitchen renovation", "cabinets", "countertops", "counters", "quartz",
              "granite", "backsplash", "island", "kitchen island", "appliances", "new kitchen", "redo kitchen",
              "kitchen upgrade", "cabinet refacing", "pantry", "sink"),
    description="Kitchen renovation: demolition, cabinets, countertops, appliances, plumbing and electrical "
                "updates, flooring and finishes.",
    tiers=(
        TierPrior("Basic", 15_000, 5.0, "Cosmetic refresh: refaced or stock cabinets, laminate or entry quartz, "
                  "same layout.", {"tier": "basic", "typical_size_sqft": 120, "size_range": "100-150 sq ft",
                                   "cabinets": "stock or refaced", "countertops": "laminate or entry quartz",
                                   "layout_change": False}, ("refresh", "cabinet refacing", "cosmetic")),
        TierPrior("Midrange", 30_000, 8.0, "Semi-custom cabinets, quartz counters, new appliances, same layout.",
                  {"tier": "midrange", "typical_size_sqft": 150, "size_range": "120-200 sq ft",
                   "cabinets": "semi-custom", "countertops": "quartz", "layout_change": False},
                  ("semi-custom", "quartz")),
        TierPrior("Premium", 65_000, 12.0, "Custom cabinets, stone counters, professional appliances, layout "
                  "changes.", {"tier": "premium", "typical_size_sqft": 220, "size_range": "180-300 sq ft",
                               "cabinets": "custom", "countertops": "natural stone", "layout_change": True},
                  ("custom cabinets", "gut", "open concept", "chef")),
    ),
    breakdown={"cabinets": 0.30, "countertops": 0.10, "appliances": 0.14, "labor": 0.20, "plumbing_electrical": 0.10,
               "flooring_finishes": 0.06, "permits_design": 0.04, "contingency": 0.06},
    regional_multipliers=_mult(),
    typical_size_sqft=150, size_exponent=0.5, size_bounds=(60, 400),
    addons={}, materials={},
    required=("quality", "size_sqft", "region"),
    assumptions=("Includes demolition of the existing kitchen", "No structural wall removal unless the tier says so",
                 "Existing electrical service is sufficient", "Standard permit process"),
    risks=("Moving plumbing or gas lines could add $3-10k", "Hidden water damage or rot could add $2-8k",
           "Cabinet lead times could add 2-6 weeks", "Electrical panel upgrade could add $3-6k"),
)

BATHROOM = SubcategoryPrior(
    category="construction", subcategory="bathroom_remodel", label="Bathroom Remodel",
    keywords=("bathroom", "bath", "bathroom remodel", "bathroom renovation", "shower", "walk-in shower", "tub",
              "bathtub", "tub to shower", "vanity", "toilet", "tile", "master bath", "primary bath", "powder room",
              "ensuite", "half bath", "restroom", "redo bathroom"),
    description="Bathroom renovation: demolition, waterproofing, tile, shower or tub, vanity, fixtures, plumbing "
                "and electrical updates.",
    tiers=(
        TierPrior("Basic", 8_000, 3.0, "Hall bath refresh: prefab tub/shower surround, stock vanity, new fixtures.",
                  {"tier": "basic", "typical_size_sqft": 40, "size_range": "35-50 sq ft",
                   "fixtures": "stock", "layout_change": False}, ("powder room", "half bath", "refresh")),
        TierPrior("Midrange", 18_000, 4.5, "Full remodel: tiled shower, new vanity and fixtures, same layout.",
                  {"tier": "midrange", "typical_size_sqft": 60, "size_range": "50-80 sq ft",
                   "fixtures": "mid-grade", "layout_change": False}, ("tiled shower", "full bath")),
        TierPrior("Premium", 35_000, 7.0, "Primary suite bath: custom tile, frameless glass, double vanity, "
                  "layout changes.", {"tier": "premium", "typical_size_sqft": 100, "size_range": "80-150 sq ft",
                                      "fixtures": "high-end", "layout_change": True},
                  ("master bath", "primary bath", "spa bathroom", "double vanity", "curbless")),
    ),
    breakdown={"fixtures": 0.20, "tile_materials": 0.18, "vanity_cabinetry": 0.10, "labor": 0.30,
               "plumbing_electrical": 0.10, "permits": 0.04, "contingency": 0.08},
    regional_multipliers=_mult(),
    typical_size_sqft=60, size_exponent=0.5, size_bounds=(25, 200),
    addons={}, materials={},
    required=("quality", "size_sqft", "region"),
    assumptions=("Includes demolition of the existing bathroom", "Drain and supply lines stay in place "
                 "unless the tier says so", "Subfloor is sound", "Standard permit process"),
    risks=("Subfloor or framing rot could add $1-5k", "Moving the drain or toilet could add $2-6k",
           "Custom glass lead times could add 1-3 weeks", "Asbestos or lead abatement could add $1-4k"),
)

LANDSCAPING = SubcategoryPrior(
    category="construction", subcategory="landscaping", label="Landscaping",
    keywords=("landscaping", "landscape", "yard", "backyard", "front yard", "garden", "hardscape", "pavers", "patio",
              "sod", "lawn", "turf", "artificial turf", "drought tolerant", "xeriscape", "irrigation", "sprinklers",
              "drip", "retaining wall", "planting", "plants", "trees", "gravel", "yard makeover", "outdoor living"),
    description="Residential landscaping: grading, irrigation, planting, sod or turf and hardscape.",
    tiers=(
        TierPrior("Basic", 5_000, 1.5, "Planting refresh, sod or gravel, drip irrigation repairs.",
                  {"tier": "basic", "typical_size_sqft": 800, "size_range": "500-1,000 sq ft",
                   "scope": "softscape"}, ("sod", "plants", "refresh")),
        TierPrior("Midrange", 12_000, 3.0, "New irrigation, drought-tolerant planting and a small paver patio.",
                  {"tier": "midrange", "typical_size_sqft": 1500, "size_range": "1,000-2,000 sq ft",
                   "scope": "softscape and small hardscape"}, ("drought tolerant", "patio", "pavers")),
        TierPrior("Premium", 25_000, 6.0, "Full yard design with hardscape, lighting, retaining walls and "
                  "irrigation.", {"tier": "premium", "typical_size_sqft": 2500, "size_range": "2,000-4,000 sq ft",
                                  "scope": "full design with hardscape"},
                  ("outdoor kitchen", "fire pit", "retaining wall", "landscape lighting")),
    ),
    breakdown={"plants_sod": 0.22, "hardscape_materials": 0.25, "irrigation": 0.12, "labor": 0.30, "design": 0.05,
               "contingency": 0.06},
    regional_multipliers=_mult(),
    typical_size_sqft=1500, size_exponent=0.7, size_bounds=(200, 10_000),
    addons={"demolition": (1.10, "Removal of existing lawn, concrete or plants")},
    materials={},
    required=("size_sqft", "quality", "region"),
    assumptions=("Level yard with normal access", "Existing water supply reused for irrigation",
                 "No structural retaining walls unless the tier says so"),
    risks=("Poor drainage or grading could add $2-6k", "Concrete removal and haul-off could add $2-5k",
           "Water-district turf rebate rules could change the plant list"),
)

ROOFING = SubcategoryPrior(
    category="construction", subcategory="roofing", label="Roof Replacement",
    keywords=("roof", "roofing", "reroof", "re-roof", "new roof", "roof replacement", "shingles", "asphalt shingles",
              "architectural shingles", "tile roof", "clay tile", "concrete tile", "metal roof", "standing seam",
              "shake", "cedar shake", "roof leak", "tear off", "roofer", "flat roof", "torch down"),
    description="Roof replacement: tear-off of one existing layer, underlayment, flashing, ventilation and new "
                "roofing.",
    tiers=(
        TierPrior("Basic", 12_000, 1.0, "Three-tab asphalt shingles on a simple single-storey roof.",
                  {"tier": "basic", "typical_size_sqft": 1600, "size_range": "1,200-2,000 sq ft of roof",
                   "material": "asphalt", "stories": 1}, ("3-tab", "three tab", "cheap roof")),
        TierPrior("Midrange", 20_000, 1.5, "Architectural asphalt shingles, new underlayment and flashing.",
                  {"tier": "midrange", "typical_size_sqft": 2000, "size_range": "1,600-2,500 sq ft of roof",
                   "material": "asphalt", "stories": 1}, ("architectural shingles", "dimensional shingles")),
        TierPrior("Premium", 38_000, 2.5, "Concrete or clay tile (or standing-seam metal) on a larger roof.",
                  {"tier": "premium", "typical_size_sqft": 2200, "size_range": "1,800-3,000 sq ft of roof",
                   "material": "tile", "stories": 1}, ("tile roof", "clay tile", "standing seam", "metal roof")),
    ),
    breakdown={"materials": 0.40, "labor": 0.38, "tear_off_disposal": 0.10, "permits": 0.03,
               "flashing_ventilation": 0.04, "contingency": 0.05},
    regional_multipliers=_mult(inland=0.88),
    typical_size_sqft=2000, size_exponent=0.9, size_bounds=(600, 6000),
    addons={},
    materials={"asphalt": 1.0, "metal": 1.6, "wood": 1.7, "tile": 1.75},
    variants={"stories": {"1": 1.0, "2": 1.10, "3": 1.20}},
    required=("size_sqft", "material", "region"),
    assumptions=("Tear-off of one existing layer included", "Roof deck sound apart from minor repairs",
                 "Moderate pitch, walkable roof"),
    risks=("Rotted decking replacement could add $2-6k", "Steep pitch or a second storey could add 10-20%",
           "Rain delays could add 1-2 weeks in winter", "A second existing layer to remove could add $1-3k"),
)

FLOORING = SubcategoryPrior(
    category="construction", subcategory="flooring", label="Flooring Installation",
    keywords=("floor", "floors", "flooring", "hardwood", "engineered hardwood", "laminate", "vinyl", "lvp",
              "luxury vinyl plank", "vinyl plank", "tile floor", "porcelain", "carpet", "refinish floors", "new floors",
              "replace carpet", "wood floors", "plank"),
    description="Flooring installation: removal of existing flooring, subfloor prep, underlayment, new flooring, "
                "baseboards and transitions.",
    tiers=(
        TierPrior("Basic", 5_000, 0.8, "Laminate or vinyl plank over prepared subfloor.",
                  {"tier": "basic", "typical_size_sqft": 800, "size_range": "500-1,000 sq ft",
                   "material": "laminate"}, ("laminate", "lvp", "vinyl plank")),
        TierPrior("Midrange", 10_000, 1.2, "Engineered hardwood or porcelain tile with new baseboards.",
                  {"tier": "midrange", "typical_size_sqft": 900, "size_range": "600-1,200 sq ft",
                   "material": "hardwood"}, ("engineered hardwood", "porcelain")),
        TierPrior("Premium", 20_000, 2.0, "Solid wide-plank hardwood or natural stone.",
                  {"tier": "premium", "typical_size_sqft": 1000, "size_range": "800-1,500 sq ft",
                   "material": "hardwood"}, ("solid hardwood", "wide plank", "natural stone", "marble")),
    ),
    breakdown={"materials": 0.45, "labor": 0.35, "underlayment_prep": 0.10, "removal_disposal": 0.05,
               "contingency": 0.05},
    regional_multipliers=_mult(inland=0.88),
    typical_size_sqft=900, size_exponent=0.9, size_bounds=(100, 4000),
    addons={},
    materials={"carpet": 0.75, "vinyl": 0.9, "laminate": 0.9, "tile": 1.3, "hardwood": 1.6},
    required=("size_sqft", "material", "region"),
    assumptions=("Subfloor level within tolerance", "Furniture moved by the owner",
                 "Removal of one existing layer of flooring included"),
    risks=("Subfloor levelling could add $1-4k", "Moisture mitigation on slab could add $1-3k",
           "Asbestos in old vinyl or mastic could add $2-5k"),
)

SUBCATEGORIES: dict[str, SubcategoryPrior] = {
    p.subcategory: p for p in (POOL, ADU, KITCHEN, BATHROOM, LANDSCAPING, ROOFING, FLOORING)}
