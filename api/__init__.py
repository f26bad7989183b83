"""HTTP API for approval systems, investigators and departments (thin routers over graph_credit)."""
