import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
function a(e){return(r,i)=>{let t=i.find(s=>e(s)===e(r));return t&&t!==r?[t]:[]}}export{a};
