"""Names from the emulator's demo data (demo_data.json) that tests, browser tests and benchmarks
refer to: one module, so a change to the data is one change here (tests/emulator checks both)."""

ACME_ORG_ID = "00D5g000004AcmEEAS"  # Acme Corporation, production
ACME_SANDBOX_ORG_ID = "00D5g000004AcSBEA0"  # Acme Corporation (Full Sandbox)
INITECH_ORG_ID = "00D5g000004InTkEAK"  # Initech: no API access for the org

ACME_ADMIN = "admin@acme-corp.example"  # the demo's connecting user
ACME_SANDBOX_ADMIN = "admin@acme-corp.example.fullsb"
NOAPI_USER = "noapi@acme-corp.example"  # a user without the API Enabled permission
INITECH_USER = "peter@initech.example"
