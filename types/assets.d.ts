// Stylesheets imported by the console's entry point: esbuild bundles them into the CSS asset.
declare module '*.css';
