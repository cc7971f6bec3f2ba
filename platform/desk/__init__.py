"""Human handoff: ownership, queue, assignment, the agent console's back end, audit trail."""
