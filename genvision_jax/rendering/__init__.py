"""Parameter-free rendering math shared by the radiance-field and splatting families.

Modules (import the one you need, e.g. `from genvision_jax.rendering import cameras`; nothing is
imported eagerly here, so importing the package costs nothing):
  - `cameras`: pinhole intrinsics, pixel rays in the OpenGL/Blender camera convention (x right,
    y up, looking along -z), look-at, sphere/turntable camera paths, LLFF pose conversion;
  - `sampling`: stratified and importance (inverse-CDF) sampling of points along rays;
  - `volume`: the volume-rendering quadrature (alpha compositing of densities and colours);
  - `render`: rendering a field along batches of rays, chunked;
  - `box`: the scene box; `occupancy`: Instant-NGP's occupancy grid for empty-space skipping;
  - `fields`: a radiance field to pixels (coarse + fine or occupancy-guided sampling, volume rendering).
"""
