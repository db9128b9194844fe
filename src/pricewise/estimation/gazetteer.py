"""California places and their estimation region: the data behind extract.find_region.

Regions follow construction-cost geography rather than county lines:
- SoCal - Coastal: the Los Angeles, Orange County, Ventura and San Diego metros (coastal plain and
  valleys that price like them: San Fernando Valley, Pasadena, Escondido, El Cajon).
- SoCal - Inland: ^Riverside, San Bernardino and Imperial counties (Inland Empire, High and Low
  Desert), the Antelope Valley, the Pomona valley and Kern County (Bakersfield).
- NorCal: the Bay Area, Sacramento and the Sierra foothills, the North Coast, and the Central Valley
  north of the Tehachapis (Stockton, Modesto, Fresno, Visalia).
- Central Coast: Santa Cruz, Monterey, San Benito, San Luis Obispo and Santa Barbara counties.

Each entry is a comma-separated name, optionally marked:
- `^Name`: only when written with a capital (the lowercase word is common English: "riverside lot",
  "corona", "carmel color", "vista").
- `=ABBR`: only written in capitals, and never right after a number ("800 SF" is square feet).
Names are matched on whole words after accents are removed, so "San José" is San Jose.
A bare "SoCal" / "Southern California" names no single region and is left out on purpose.
"""

from __future__ import annotations

COASTAL = """
Los Angeles, =LA, l.a., dtla, =SFV, =SGV, Santa Monica, Malibu, Pasadena, Glendale, Burbank, Beverly Hills,
Culver City, West Hollywood, Hollywood, Venice, Marina del Rey, Playa Vista, Westwood, Torrance,
Redondo Beach, Hermosa Beach, Manhattan Beach, El Segundo, Palos Verdes, Rancho Palos Verdes, San Pedro,
Long Beach, Pacific Palisades, Encino, Sherman Oaks, Studio City, Van Nuys, Woodland Hills, Calabasas, Tarzana,
Northridge, San Fernando Valley, Silver Lake, Echo Park, Los Feliz, Eagle Rock, Highland Park, Whittier,
Cerritos, Arcadia, Alhambra, Monrovia, Altadena, La Canada, La Canada Flintridge, La Crescenta,
San Marino, South Pasadena, San Gabriel Valley, Thousand Oaks, Simi Valley, Ventura, Oxnard, Camarillo,
Moorpark, Ojai, Santa Clarita, Agoura Hills, Westlake Village, Orange County, =OC, =O.C., Irvine,
Newport Beach, Huntington Beach, Costa Mesa, Laguna Beach, Laguna Niguel, Laguna Hills, Dana Point,
San Clemente, San Juan Capistrano, Mission Viejo, Aliso Viejo, Lake Forest, Ladera Ranch,
Rancho Santa Margarita, Tustin, Santa Ana, Anaheim, Fullerton, Yorba Linda, Placentia, Brea, Seal Beach,
Garden Grove, Fountain Valley, Westminster, ^Cypress, Los Alamitos, San Diego, =SD, =S.D., La Jolla, Carlsbad,
^Oceanside, Encinitas, Leucadia, Cardiff by the Sea, Del Mar, Solana Beach, Coronado, Chula Vista,
National City, Point Loma, Pacific Beach, Mission Beach, Ocean Beach, Mission Valley, Clairemont, Escondido,
Poway, San Marcos, ^Vista, El Cajon, La Mesa, Santee, Rancho Bernardo, Rancho Santa Fe, Imperial Beach,
Scripps Ranch, Coastal SoCal, SoCal Coastal, SoCal Coast, Coastal Southern California,
Southern California Coast, Southern California Coastal
"""

INLAND = """
Inland Empire, =IE, ^Riverside, San Bernardino, ^Ontario, Rancho Cucamonga, Fontana, ^Corona, Temecula,
Murrieta, Menifee, Moreno Valley, Perris, Hemet, Lake Elsinore, Eastvale, Jurupa Valley, Norco, ^Chino,
Chino Hills, ^Upland, Redlands, Yucaipa, Rialto, Colton, Loma Linda, Victorville, Hesperia, Apple Valley,
High Desert, Low Desert, Big Bear, Lake Arrowhead, Palm Springs, Palm Desert, Cathedral City, Rancho Mirage,
Indian Wells, La Quinta, Indio, Coachella, Coachella Valley, Desert Hot Springs, Twentynine Palms,
Yucca Valley, Joshua Tree, ^Lancaster, Palmdale, Antelope Valley, ^Pomona, Claremont, Bakersfield,
El Centro, Imperial Valley, ^Beaumont, ^Banning, Calimesa, Wildomar, Canyon Lake, San Jacinto,
Inland SoCal, SoCal Inland, Inland Southern California, Southern California Inland
"""

NORCAL = """
San Francisco, =SF, =S.F., Bay Area, SF Bay Area, San Francisco Bay Area, East Bay, North Bay,
Silicon Valley, Oakland, Berkeley, Alameda, San Jose, Santa Clara, Sunnyvale, ^Mountain View, Palo Alto,
Menlo Park, Redwood City, San Mateo, Burlingame, Daly City, South San Francisco, Cupertino, Los Gatos,
^Saratoga, Milpitas, Fremont, Hayward, Union City, San Leandro, Castro Valley, Pleasanton,
Livermore, ^Dublin, San Ramon, ^Danville, Walnut Creek, Orinda, Moraga, ^Concord,
^Antioch, ^Richmond, El Cerrito, Vallejo, Benicia, ^Fairfield, Vacaville, Napa, Sonoma, Santa Rosa,
Petaluma, Marin, Marin County, San Rafael, Novato, Mill Valley, Sausalito, Tiburon, Half Moon Bay, Pacifica,
Gilroy, Morgan Hill, Sacramento, Sacto, Elk Grove, Roseville, Rocklin, Folsom, ^Davis, El Dorado Hills,
Placerville, ^Auburn, Grass Valley, Nevada City, Truckee, Tahoe, Lake Tahoe, South Lake Tahoe, Redding,
^Chico, ^Eureka, Arcata, Ukiah, Mendocino, Stockton, Modesto, Manteca, Lodi, Turlock, Merced,
Fresno, ^Clovis, Visalia, Tulare, Hanford, ^Madera, Central Valley, San Joaquin Valley, Wine Country,
Gold Country, NorCal, Nor Cal, Northern California, Northern Cal
"""

CENTRAL_COAST = """
Central Coast, Central California Coast, Santa Barbara, Goleta, Montecito, Carpinteria, Summerland,
Santa Ynez, Solvang, Buellton, Lompoc, Santa Maria, Orcutt, San Luis Obispo, =SLO, Pismo Beach,
Arroyo Grande, Grover Beach, Atascadero, Paso Robles, Templeton, Morro Bay, Los Osos, Cayucos,
Nipomo, Monterey, ^Carmel, Carmel by the Sea, Carmel Valley, Pacific Grove, Pebble Beach, ^Seaside, Salinas,
Watsonville, Santa Cruz, Capitola, Aptos, Scotts Valley, Soquel, Big Sur, ^Hollister, San Benito
"""
