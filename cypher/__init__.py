"""The Cypher statements, one per ``.cypher`` file, shipped as the data package
``graph_credit.store.neo4j.statements`` (pyproject.toml maps this directory to it) and read with
importlib.resources by ``graph_credit.store.neo4j.cypher``. No Python code lives here."""
