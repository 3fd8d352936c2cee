# zone.pyx — (being written)
