"""Demo content for `seed_demo` (Acme Bank): help articles, one per BANKING77 intent."""
