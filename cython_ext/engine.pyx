# engine.pyx — (being written)
